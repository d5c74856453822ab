"""Files and processes: atomic output (a reader never sees a half-written file), JSON made plain, strict CSV
input, cores and memory."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.errors import FolderBusy

LOCK_NAME = ".datasize.lock"  # in a run folder while a command owns it: its pid and command line


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity, unlike os.cpu_count()), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_memory() -> int:
    """Bytes of memory the system can give without swapping (Linux MemAvailable), else free physical pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: assume plenty


def release_free_memory() -> None:
    """Hand memory that is free inside the C heap back to the system (glibc `malloc_trim`; else nothing).

    torch's worker threads allocate from their own malloc arenas, and after many batches of
    changing shapes those arenas hold hundreds of MB that are free but not returned: the peak grows
    with the number of images evaluated. Called between phases (after an evaluation pass, after a
    run), never per step: memory returned there would be touched fresh again by the next step.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (it has `malloc_trim`), loaded once; None elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (an AttributeError when not glibc)
    except (OSError, AttributeError):
        return None
    return libc


def default_cache_dir() -> Path:
    """Where image caches go when none is named and they are too large for memory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "datasize"


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place."""
    write_atomic(path, lambda f: f.write(data))


def write_atomic(path: str | os.PathLike, write: Callable[[Any], object]) -> None:
    """`write(f)` into a binary temporary file beside `path`, flushed to disk, then renamed into place:
    the file appears whole or not at all, and a large one is never held in memory as one string."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the name, so `remove_stale_temporaries` can tell a dead writer's leftover
    # from a file another live process is still writing.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: give the mode open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """This process's umask (Linux reads it from /proc; elsewhere it is set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, command: str | None = None) -> Iterator[Path]:
    """Own `folder` while the block runs: FolderBusy (with the holder's pid and command) when another
    process owns it. The lock is an flock on LOCK_NAME, which the system releases when its holder
    dies, so a crashed or killed run leaves no lock behind; the file is removed on release.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with folder_lock(folder, command="datasize curve data"):
    ...     (folder / LOCK_NAME).read_text().split("\\n")[1]
    'datasize curve data'
    >>> (folder / LOCK_NAME).exists()
    False
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield Path(folder) / LOCK_NAME
        return
    path = Path(folder) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, fcntl)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{command or _command_line()}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # before unlocking: a waiter that opened it sees it replaced
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(path: Path, fcntl: Any) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusy(_busy_message(path)) from None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return fd
        os.close(fd)  # its holder removed it as we opened it: lock the new one


def _busy_message(path: Path) -> str:
    try:
        pid, command = ([*path.read_text(encoding="utf-8").splitlines(), "", ""])[:2]
    except OSError:
        pid, command = "", ""
    holder = f"pid {pid or '?'}" + (f": {command}" if command else "")
    return (
        f"{path.parent} is in use by another datasize command ({holder}); wait for it to finish (it "
        "resumes the same runs), or give another --out"
    )


def _command_line() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join(["datasize" if name in ("__main__.py", "datasize") else name, *sys.argv[1:]])


# `.NAME.PID.XXXXXXXX.tmp` (write_bytes_atomic) and `.NAME.PID.partial.npy` (the image cache).
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.(?:[a-z0-9_]{8}\.tmp|partial\.npy)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers killed mid-write left in `folder`; returns them.

    Only our own temporaries whose writing process is gone are touched. They are never read (every
    reader opens the renamed file), so this only frees the space; nothing else in the folder moves.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".runs.csv.999999999.abcd_123.tmp").write_text("half")
    >>> _ = (folder / f".runs.csv.{os.getpid()}.abcd_123.tmp").write_text("mine, still writing")
    >>> [p.name for p in remove_stale_temporaries(folder)]
    ['.runs.csv.999999999.abcd_123.tmp']
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in sorted(folder.iterdir()):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not path.is_symlink() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """A DataFrame as CSV (no index, LF line ends), written atomically."""
    # Streamed: the text of a million-row manifest would be about a gigabyte.
    write_atomic(path, lambda f: frame.to_csv(f, index=False, lineterminator="\n", encoding="utf-8"))


def read_csv_text(path: str | os.PathLike, *, what: str) -> pd.DataFrame:
    """A UTF-8 CSV as a table of strings ("" for empty cells); ValueError naming `what` and the file.

    Rows with more cells than the header are refused: pandas would otherwise take the extra
    leading cells as an index and shift every column, silently.
    """
    name = f"{what} {str(path)!r}"
    if not Path(path).is_file():
        raise FileNotFoundError(f"{name} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", index_col=False)
    except UnicodeDecodeError:
        raise ValueError(f"{name} is not UTF-8 text ({_first_bad_utf8(path)}); save it as UTF-8") from None
    except pd.errors.ParserWarning:
        raise ValueError(f"{name} has rows with more cells than its header") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{name} is not a readable CSV: {str(exc).strip()}") from None


def _first_bad_utf8(path: str | os.PathLike) -> str:
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"line {line}: byte 0x{data[exc.start]:02x} {exc.reason}"
    return "an invalid byte"


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Sorted, indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(jsonable(value), indent=2, sort_keys=True, allow_nan=False) + "\n")
