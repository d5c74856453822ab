"""The failures a command reports with an exit code of its own, light enough for the CLI to import."""

from __future__ import annotations

from typing import Any


class ValidationFailed(RuntimeError):
    """Validation found what would make a measurement wrong (leakage, one image under two labels, no
    image or one class...): the pipeline stops before training. The message says which."""


class RunsFailed(RuntimeError):
    """Every run of a curve (or of the pilot's length) failed: nothing was measured. The message gives
    the first failure's cause; each run's record has its own."""

    @classmethod
    def check(cls, records: list[dict[str, Any]], what: str) -> None:
        """Raise when `records` holds runs and none finished."""
        if records and not any(r.get("status") == "ok" for r in records):
            first = next((r.get("message") for r in records if r.get("message")), "no message")
            raise cls(f"every run of {what} failed ({len(records)} runs); the first: {first}")


class FolderBusy(RuntimeError):
    """Another live datasize process holds the run folder (its lock): two commands must not train the
    same pending runs side by side. The message gives the holder's pid and command."""
