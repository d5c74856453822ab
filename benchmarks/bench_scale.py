"""Validation at scale: peak memory and time of `datasize scan` and `datasize validate` by image count.

Writes, once per size, a seeded folder of small generated images (`--workdir/n<N>/<class>/<i>.png`:
28-64 px, gray or colour, a smooth random field with a flat shape and noise, 10 classes, 0.5% of
them re-encoded copies of another image), then runs each command in a fresh process (`python -m
datasize scan ... --output CSV` and `validate ... --json`, probing with `--jobs`) and reads that
process's peak resident set size (`ru_maxrss` of the finished child; the probe's worker processes
are its children and smaller).
Printed per size: wall seconds, peak RSS, and the memory slope between consecutive sizes (KB per
image), which is what decides whether a million images fit.

Usage:
    PYTHONPATH=. python benchmarks/bench_scale.py --sizes 10000,100000
    PYTHONPATH=. python benchmarks/bench_scale.py --sizes 1000000 --commands validate --keep
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import load_average, machine_lines

CLASSES = 10
_WRITE_CHUNK = 2000


def small_image(seed: int, i: int) -> Image.Image:
    """Image i of the set: 28-64 px a side, a smooth field plus a flat shape and noise."""
    rng = np.random.default_rng([seed, i])
    width, height = (int(v) for v in rng.integers(28, 65, size=2))
    coarse = rng.uniform(0, 255, size=(4, 4)).astype(np.float32)
    field = np.array(Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    field[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.uniform(0, 255)
    pixels = np.clip(field + rng.normal(0, 6, size=field.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    return image.convert("RGB") if rng.random() < 0.5 else image


def _write_chunk(folder: str, seed: int, start: int, stop: int, n: int) -> None:
    for i in range(start, stop):
        path = Path(folder, f"c{i % CLASSES}", f"{i:07d}.png")
        if i % 200 == 199:  # a copy of an earlier image, saved as JPEG
            small_image(seed, i - 100).convert("RGB").save(path.with_suffix(".jpg"), quality=85)
        else:
            small_image(seed, i).save(path)


def ensure_images(folder: Path, n: int, seed: int, jobs: int) -> float:
    """Write the set unless `folder` already holds it; returns the seconds spent writing."""
    marker = folder / ".complete"
    if marker.exists():
        return 0.0
    start = time.perf_counter()
    for c in range(CLASSES):
        (folder / f"c{c}").mkdir(parents=True, exist_ok=True)
    cuts = [*range(0, n, _WRITE_CHUNK), n]
    spans = list(itertools.pairwise(cuts))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        starts, stops = [a for a, _ in spans], [b for _, b in spans]
        list(
            pool.map(
                _write_chunk, [str(folder)] * len(spans), [seed] * len(spans), starts, stops, [n] * len(spans)
            )
        )
    marker.write_text(str(n))
    return time.perf_counter() - start


_WRAPPER = """
import resource, subprocess, sys, time, json
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
err = done.stderr.decode()[-2000:]
print(json.dumps({"rc": done.returncode, "seconds": seconds, "peak_kb": peak, "err": err}))
"""


def measure(command: list[str]) -> dict:
    """Run `command` in a fresh wrapper process: its exit status, wall seconds and peak RSS (KB)."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="image counts, comma-separated")
    parser.add_argument("--commands", default="scan,validate", help="scan, validate or both")
    parser.add_argument("--jobs", type=int, default=2, help="probing processes (--jobs of the commands)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir(), "datasize-bench-scale")))
    parser.add_argument("--keep", action="store_true", help="keep the generated folders (reused when kept)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    commands = args.commands.split(",")
    print("\n".join(machine_lines()), flush=True)
    rows = []
    for n in sizes:
        folder = Path(args.workdir, f"n{n}-seed{args.seed}")
        wrote = ensure_images(folder, n, args.seed, args.jobs)
        if wrote:
            print(f"wrote {n:,} images to {folder} in {wrote:.0f} s", flush=True)
        for command in commands:
            load = load_average()
            cli = [sys.executable, "-m", "datasize", command, str(folder), "--jobs", str(args.jobs)]
            # scan writes its manifest as CSV (its --json would hold the whole JSON text in memory)
            cli += (
                ["--output", str(Path(args.workdir, f"manifest-{n}.csv"))]
                if command == "scan"
                else ["--json"]
            )
            result = measure(cli)
            if result["rc"] not in (0, 1):  # validate exits 1 when a finding fails it
                print(f"{command} {n}: exit {result['rc']}\n{result['err']}")
                continue
            rows.append({"command": command, "n": n, **result, "load": load})
            peak = result["peak_kb"] / 1024
            print(f"{command:8s} {n:>9,} images: {result['seconds']:8.1f} s  peak {peak:8.0f} MB", end="")
            print(f"  (load average before: {load})", flush=True)
    print("\n| command | images | wall s | peak RSS MB | slope KB/image (from the previous size) |")
    print("| --- | --- | --- | --- | --- |")
    for command in commands:
        mine = [r for r in rows if r["command"] == command]
        for previous, row in zip([None, *mine], mine, strict=False):
            slope = ""
            if previous is not None:
                slope = f"{(row['peak_kb'] - previous['peak_kb']) / (row['n'] - previous['n']):.2f}"
            print(
                f"| {command} | {row['n']:,} | {row['seconds']:.1f} | {row['peak_kb'] / 1024:.0f} | {slope} |"
            )
    print(f"load average at the end: {load_average()}")
    if not args.keep:
        import shutil

        for n in sizes:
            shutil.rmtree(Path(args.workdir, f"n{n}-seed{args.seed}"), ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    main()
