"""Kill `datasize curve` with SIGKILL at random moments, resume it, and check that nothing is lost.

For each trial a fresh run folder is started with `datasize curve` in a subprocess, which is killed
(SIGKILL to its whole process group, probing workers included) at a moment drawn by a seeded RNG,
uniformly over the runtime of an uninterrupted reference run. Then:

1. right after the kill, every JSON and CSV file in the run folder (temporaries aside) must parse:
   a later command must never find a half-written file under a name it trusts;
2. the same command is run again and must finish (exit 0), resuming from what the killed run saved;
3. its runs.csv and per_class.csv must equal the reference run's value for value (the `seconds`
   column aside), and leftover temporary files are counted (they are never read).

Prints one row per trial and a summary; exits 1 on any mismatch, unparsable file or failed resume.

Usage:
    python benchmarks/bench_kill.py                     # 10 trials, ~200 images, ~4-6 min on 2 cores
    python benchmarks/bench_kill.py --trials 3 --seed 7 --images 120
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CURVE_ARGS = ["--fractions", "1/4,1/2,1", "--seeds", "2", "--epochs", "2", "--size", "16", "--lr", "3e-3"]
VOLATILE_COLUMNS = ["seconds"]  # wall-clock time: the only column allowed to differ
TEMPORARY_SUFFIXES = (".tmp", ".partial.npy")


def make_dataset(root: Path, n: int, seed: int) -> None:
    """Three classes of noisy 16x16 patterns (vertical, horizontal, diagonal), hard enough to err."""
    rng = np.random.default_rng(seed)
    grid = np.arange(16)
    patterns = {
        "vertical": lambda p: np.tile((grid + p) // 2 % 2, (16, 1)),
        "horizontal": lambda p: np.tile(((grid + p) // 2 % 2)[:, None], (1, 16)),
        "diagonal": lambda p: (grid[:, None] + grid[None, :] + p) // 2 % 2,
    }
    for i in range(n):
        label = list(patterns)[i % 3]
        image = patterns[label](int(rng.integers(0, 4))) * 60.0 + rng.normal(0, 90, (16, 16)) + 100
        path = root / label / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)


def curve_command(data: Path, out: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "datasize", "curve", str(data), *args, "-q", "-o", str(out)]


def run_to_end(
    data: Path, out: Path, args: list[str] = CURVE_ARGS
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(curve_command(data, out, args), capture_output=True, text=True, timeout=900)
    return time.perf_counter() - start, done


def run_and_kill(data: Path, out: Path, after: float, args: list[str], saved: int | None) -> tuple[bool, str]:
    """Start the curve and SIGKILL its process group after `after` seconds, or (with `saved`) as soon
    as that many runs are saved; returns (killed, the last stage it printed)."""
    log = out.with_name(out.name + ".log")
    with open(log, "wb") as output:
        process = subprocess.Popen(
            curve_command(data, out, args), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.perf_counter() + after
        while process.poll() is None and time.perf_counter() < deadline:
            if saved is not None and len(list(out.glob("runs/*.json"))) >= saved:
                break
            time.sleep(0.02)
        killed = process.poll() is None
        if killed:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    stages = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("[")]
    return killed, stages[-1].strip("[]") if stages else "starting up"


def unparsable_files(folder: Path) -> list[str]:
    """JSON and CSV files under a trusted name that do not parse."""
    bad = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.endswith(TEMPORARY_SUFFIXES):
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".csv":
                pd.read_csv(path)
        except (ValueError, UnicodeDecodeError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            bad.append(f"{path.relative_to(folder)}: {exc}")
    return bad


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(TEMPORARY_SUFFIXES))


def differences(folder: Path, reference: Path) -> list[str]:
    """Where the resumed run's tables differ from the reference's (the volatile columns aside)."""
    found = []
    for name in ("runs.csv", "per_class.csv"):
        if not (folder / name).is_file():
            found.append(f"{name} missing")
            continue
        got = pd.read_csv(folder / name).drop(columns=VOLATILE_COLUMNS, errors="ignore")
        want = pd.read_csv(reference / name).drop(columns=VOLATILE_COLUMNS, errors="ignore")
        if got.shape != want.shape or list(got.columns) != list(want.columns):
            found.append(f"{name}: shape {got.shape} != {want.shape}")
        elif not got.equals(want):
            cells = (got != want) & ~(got.isna() & want.isna())
            rows, cols = np.nonzero(cells.to_numpy())
            found += [
                f"{name} row {r} {got.columns[c]}: {got.iat[r, c]!r} != {want.iat[r, c]!r}"
                for r, c in zip(rows, cols, strict=True)
            ]
    return found


@dataclass
class Trial:
    number: int
    kill_at: float
    killed: bool
    stage: str
    runs_saved: int
    unparsable: list[str]
    resume_code: int
    resume_seconds: float
    resumed_runs: int
    leftovers: list[str]
    diffs: list[str]

    @property
    def ok(self) -> bool:
        return not self.unparsable and self.resume_code == 0 and not self.diffs

    def row(self) -> str:
        when = f"{self.kill_at:6.1f}s" + ("" if self.killed else " (ended first)")
        verdict = "ok" if self.ok else "MISMATCH"
        stage, broken, left = self.stage[:34], len(self.unparsable), len(self.leftovers)
        return (
            f"{self.number:>5}  {when:<20} {stage:<34} {self.runs_saved:>5} {broken:>10}"
            f" {self.resume_seconds:>8.1f}s {self.resumed_runs:>7} {left:>9}  {verdict}"
        )


HEADER = (
    f"{'trial':>5}  {'killed at':<20} {'stage when killed':<34} {'saved':>5} {'unparsable':>10}"
    f" {'resume':>9} {'resumed':>7} {'leftovers':>9}  result"
)


def run_trial(
    number: int,
    data: Path,
    workdir: Path,
    reference: Path,
    kill_at: float,
    *,
    args: list[str] = CURVE_ARGS,
    kill_when_saved: int | None = None,
) -> Trial:
    """One kill (at `kill_at` seconds, or once `kill_when_saved` runs are saved) and one resume."""
    out = workdir / f"trial-{number:02d}"
    shutil.rmtree(out, ignore_errors=True)
    killed, stage = run_and_kill(data, out, kill_at, args, kill_when_saved)
    saved = len(list(out.glob("runs/*.json")))
    broken = unparsable_files(out) if out.exists() else []
    seconds, resumed = run_to_end(data, out, args)
    summary = out / "curve_summary.json"
    resumed_runs = json.loads(summary.read_text())["resumed_runs"] if summary.is_file() else -1
    return Trial(
        number,
        kill_at,
        killed,
        stage,
        saved,
        broken,
        resumed.returncode,
        seconds,
        resumed_runs,
        temporaries(out),
        differences(out, reference) if resumed.returncode == 0 else [resumed.stderr.strip()[-300:]],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="kill-and-resume trials [10]")
    parser.add_argument("--images", type=int, default=200, help="images in the generated dataset [200]")
    parser.add_argument("--seed", type=int, default=0, help="seeds the dataset and the kill moments [0]")
    parser.add_argument("--workdir", type=Path, default=None, help="where to work [a new temporary folder]")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.images < 30:
        parser.error("--trials must be at least 1 and --images at least 30")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="datasize-bench-kill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, workdir)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _bench(args: argparse.Namespace, workdir: Path) -> int:
    data = workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    make_dataset(data, args.images, args.seed)
    print(f"datasize curve {' '.join(CURVE_ARGS)} on {args.images} images; work folder {workdir}")
    # Two uninterrupted runs: the first warms the caches, the second times the kill window, and the
    # two must agree, or a mismatch after a kill would prove nothing.
    reference, again = workdir / "reference", workdir / "reference-again"
    times = []
    for folder in (reference, again):
        shutil.rmtree(folder, ignore_errors=True)
        seconds, done = run_to_end(data, folder)
        times.append(seconds)
        if done.returncode != 0:
            print(f"an uninterrupted reference run failed:\n{done.stderr}", file=sys.stderr)
            return 1
    seconds = min(times)
    unstable = differences(again, reference)
    if unstable:
        print(
            "two uninterrupted runs differ, so results are not reproducible here:", *unstable[:5], sep="\n  "
        )
        return 1
    runs = pd.read_csv(reference / "runs.csv")
    errors = ", ".join(f"{e:.3f}" for e in runs["error_rate"])
    print(
        f"reference: {len(runs)} runs in {seconds:.1f}s (a second run agrees exactly); error rates {errors}"
    )
    rng = np.random.default_rng(args.seed)
    moments = rng.uniform(0.0, seconds, size=args.trials)
    print(HEADER)
    trials = []
    for number, kill_at in enumerate(moments, start=1):
        trial = run_trial(number, data, workdir, reference, float(kill_at))
        trials.append(trial)
        print(trial.row(), flush=True)
        for line in trial.unparsable + trial.diffs[:5]:
            print(f"       {line}")
    killed = sum(t.killed for t in trials)
    failed = [t.number for t in trials if not t.ok]
    kept, left = sum(t.runs_saved for t in trials), sum(len(t.leftovers) for t in trials)
    print(
        f"{len(trials)} trials, {killed} killed mid-run, {kept} finished runs kept across kills, "
        f"{left} leftover temporaries (never read): "
        + (
            "all resumed to results identical to the reference"
            if not failed
            else f"MISMATCH in trials {failed}"
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
