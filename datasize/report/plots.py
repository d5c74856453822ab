"""Plots with matplotlib, headless: readable in print and for colour-blind readers."""

from __future__ import annotations

import io
import os
from typing import Any

from datasize.io import write_bytes_atomic

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in grayscale print.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> None:
    """Save a figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
