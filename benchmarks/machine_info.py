"""What every benchmark prints about where it ran: the command, the machine, the load.

Imported by the scripts beside it (`python benchmarks/bench_*.py` puts this folder on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import sys
from pathlib import Path


def machine_lines(*libraries: str) -> list[str]:
    """The command line, platform, usable cores, CPU model and versions (`libraries`: more of them)."""
    import numpy as np
    import PIL

    import datasize
    from datasize.io import usable_cores

    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    versions = [
        f"python {platform.python_version()}",
        *libraries,
        f"pillow {PIL.__version__}",
        f"numpy {np.__version__}",
        f"datasize {datasize.__version__}",
    ]
    return [
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"machine: {platform.platform()}; {usable_cores()} usable cores (os.cpu_count()={os.cpu_count()}); "
        f"cpu {cpu}",
        "; ".join(versions),
    ]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine shows here."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
