"""A titled part of a report: paragraphs, figures, tables, and tables folded away below them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Section:
    """A titled part of the report, shown in this order: paragraphs, figures, tables, folded tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table)
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG bytes)
    folded: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table) shown on request
