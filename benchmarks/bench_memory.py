"""Peak memory of `datasize curve` and `datasize train` against the size of their image cache.

The issue's promise: a curve's peak memory stays within the cache size plus a small constant, and
the cache goes to a memory-mapped file when it would not fit comfortably in RAM. Each command runs
in its own wrapper process, which reads the peak resident set size (ru_maxrss) of its children, so
one measurement never hides another. The same command on a tiny dataset of the same image size
gives the constant part (Python, torch, the model, oneDNN buffers, the activations of same-shaped
batches: the curve trains the same subset sizes, 250 and 500 images, on both); then

    overhead = peak(N images) - peak(tiny) - cache bytes

is what grows with the data beyond the cache itself; it should stay near zero. Training is kept
short (one epoch on the two subsets) so that the cache, not the arithmetic, dominates; the
validation passes still cover a fifth of all images, and `train` trains one epoch on all of them.

Usage:
    python benchmarks/bench_memory.py                    # 10,000 64x64 RGB images (123 MB cache), ~2 min
    python benchmarks/bench_memory.py --images 20000 --size 64
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from machine_info import load_average
from PIL import Image

WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
)


def make_images(root: Path, n: int, side: int, seed: int) -> None:
    """`n` RGB PNGs in 4 classes: smooth random colour fields with noise (not compressible to nothing)."""
    if root.is_dir() and sum(1 for _ in root.rglob("*.png")) == n:
        return
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((side, side), Image.Resampling.BILINEAR)
        pixels = np.clip(np.asarray(image, dtype=np.int16) + rng.integers(-20, 21, (side, side, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:06d}.png")


def peak_kib(command: list[str]) -> int:
    """The peak resident set size, in KiB, of the largest process `command` ran."""
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True
    )
    peak, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}")
    return int(peak)


def commands(data: Path, out: Path, size: int) -> dict[str, list[str]]:
    datasize = [sys.executable, "-m", "datasize"]
    common = ["--size", str(size), "--jobs", "1", "-q"]
    return {
        "curve (memory-mapped cache)": [
            *datasize,
            "curve",
            str(data),
            *common,
            "--sizes",
            "250,500",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--budget",
            "epochs",
            "--lr",
            "3e-3",
            "-o",
            str(out / "curve"),
        ],
        "train (cache in memory)": [
            *datasize,
            "train",
            str(data),
            *common,
            "--epochs",
            "1",
            "-o",
            str(out / "train"),
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10_000, help="images in the large dataset")
    parser.add_argument("--tiny", type=int, default=1000, help="images in the tiny dataset (the constant)")
    parser.add_argument("--size", type=int, default=64, help="image side, stored and trained (px)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "datasize-bench-memory")
    args = parser.parse_args(argv)
    if not 4 <= args.size <= 1024 or args.images < 5 * args.tiny or args.tiny < 800:
        parser.error("--size must be 4..1024, --tiny at least 800 and --images at least 5x --tiny")
    print(f"load average before: {load_average()}")
    rows = []
    for n in (args.tiny, args.images):
        data = args.workdir / f"images-{n}-{args.size}"
        make_images(data, n, args.size, seed=n)
        with tempfile.TemporaryDirectory(dir=args.workdir) as out:
            rows.append({name: peak_kib(cmd) for name, cmd in commands(data, Path(out), args.size).items()})
    cache_mib = args.images * 3 * args.size * args.size / 2**20
    tiny_mib = args.tiny * 3 * args.size * args.size / 2**20
    print(
        f"\n{args.images} images of {args.size}x{args.size} RGB: "
        f"cache {cache_mib:.1f} MiB ({tiny_mib:.1f} for the tiny set)"
    )
    print(f"{'command':<30} {'peak tiny':>10} {'peak large':>11} {'growth':>8} {'cache':>7} {'overhead':>9}")
    for name in rows[0]:
        tiny, large = rows[0][name] / 1024, rows[1][name] / 1024
        growth = large - tiny
        overhead = growth - (cache_mib - tiny_mib)
        print(
            f"{name:<30} {tiny:>8.0f} M {large:>9.0f} M {growth:>6.0f} M {cache_mib - tiny_mib:>5.0f} M "
            f"{overhead:>7.0f} M  ({overhead / cache_mib:+.0%} of the cache)"
        )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
