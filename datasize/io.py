"""Files and processes: atomic output (a reader never sees a half-written file), usable cores."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity, unlike os.cpu_count()), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """A DataFrame as CSV (no index, LF line ends), written atomically."""
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
