"""How fast are `datasize.scan` and `datasize.validate`, against plain decoding and cleanvision?

Generates a seeded folder of synthetic photo-like JPEGs (ImageNet layout, `<class>/<i>.jpg`), then
times, interleaved over several rounds (medians and minimums reported, every ratio taken within
this one run):

- decode only: Pillow open + full `load()` of every file, in 1 process and in `--jobs` processes;
- `datasize.scan(folder, jobs=1)` and `datasize.scan(folder, jobs=--jobs)`;
- `datasize.validate(folder)` (Great Expectations imported once beforehand and timed apart);
- cleanvision's `Imagelab(data_path=folder).find_issues()`, run in a subprocess with the python of
  its own virtual environment (never a dependency of datasize; `--setup-cleanvision` creates it).

Usage:
    python benchmarks/bench_scan.py                      # 3000 images, 5 rounds
    python benchmarks/bench_scan.py --setup-cleanvision  # first create benchmarks/.venv-cleanvision
    python benchmarks/bench_scan.py --n 500 --repeats 1 --profile 25
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from machine_info import load_average, machine_lines
from PIL import Image

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CLEANVISION_VENV = BENCH_DIR / ".venv-cleanvision"
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "datasize-bench-scan"
# Bump when the generator changes, so an old folder with the same options is not reused.
GENERATOR_VERSION = 1
WARMUP_IMAGES = 24  # a tiny dataset to pay validate's first-call costs on, outside the timings
RESULT_MARKER = "BENCH-RESULT "

# Runs under the cleanvision venv's python; prints one JSON line after the marker.
CLEANVISION_SNIPPET = f"""
import json, sys, time
t0 = time.perf_counter()
import cleanvision, PIL
from cleanvision import Imagelab
t1 = time.perf_counter()
lab = Imagelab(data_path=sys.argv[1])
t2 = time.perf_counter()
lab.find_issues()
t3 = time.perf_counter()
summary = lab.issue_summary
print({RESULT_MARKER!r} + json.dumps({{
    "import_s": t1 - t0,
    "init_s": t2 - t1,
    "find_issues_s": t3 - t2,
    "cleanvision": cleanvision.__version__,
    "pillow": PIL.__version__,
    "issues": dict(zip(summary["issue_type"], (int(n) for n in summary["num_images"]))),
}}))
"""


@dataclass(frozen=True)
class DatasetSpec:
    """What the synthetic dataset is made of; the folder is reused only when this matches."""

    n: int  # number of images
    classes: int  # class folders; image i goes to class i % classes
    seed: int  # root of every random draw
    min_side: int  # sides are drawn uniformly from [min_side, max_side]
    max_side: int
    duplicate_fraction: float  # this share of images re-encodes an earlier one of its class
    quality: int  # JPEG quality of the originals (near duplicates use quality - 20)


@dataclass
class Case:
    """One timed row of the table."""

    name: str
    run: Callable[[], float | None]  # returns its own seconds when wall time is the wrong measure
    images: int
    rounds: int  # runs in the first this-many rounds only (cleanvision is slow)
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


# --- the synthetic dataset --------------------------------------------------------------------


def synthetic_photo(rng: np.random.Generator, width: int, height: int, tint: np.ndarray) -> Image.Image:
    """A smooth random colour field (two octaves) plus pixel noise: JPEG compresses it like a photo."""
    field_ = np.zeros((height, width, 3), dtype=np.float32)
    for cells, amplitude in ((int(rng.integers(2, 6)), 70.0), (int(rng.integers(10, 24)), 30.0)):
        coarse = rng.normal(0.0, 1.0, size=(cells, cells, 3)).astype(np.float32)
        for c in range(3):
            layer = Image.fromarray(coarse[:, :, c], mode="F").resize(
                (width, height), Image.Resampling.BICUBIC
            )
            field_[:, :, c] += amplitude * np.asarray(layer)
    noise = rng.normal(0.0, 6.0, size=(height, width, 3)).astype(np.float32)
    pixels = np.clip(128.0 + tint + field_ + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def _image_plan(spec: DatasetSpec) -> list[tuple[int, int, int, int, int, int]]:
    """Per image: (index, class, source index for content, width, height, quality)."""
    rng = np.random.default_rng(spec.seed)
    sides = rng.integers(spec.min_side, spec.max_side + 1, size=(spec.n, 2))
    duplicate = rng.random(spec.n) < spec.duplicate_fraction
    plan = []
    for i in range(spec.n):
        label = i % spec.classes
        source, quality = i, spec.quality
        if duplicate[i] and i >= spec.classes:
            earlier = int(rng.integers(0, i // spec.classes)) * spec.classes + label
            source, quality = plan[earlier][2], spec.quality - 20  # the original, not a copy
        width, height = (int(s) for s in sides[source])
        plan.append((i, label, source, width, height, quality))
    return plan


def _write_images(root: str, spec: DatasetSpec, items: list[tuple[int, int, int, int, int, int]]) -> None:
    tints = np.random.default_rng([spec.seed, 1]).normal(0.0, 25.0, size=(spec.classes, 3))
    for i, label, source, width, height, quality in items:
        image = synthetic_photo(np.random.default_rng([spec.seed, 2, source]), width, height, tints[label])
        image.save(Path(root, f"class_{label:02d}", f"{i:06d}.jpg"), quality=quality)


def ensure_dataset(folder: Path, spec: DatasetSpec, jobs: int) -> tuple[bool, float]:
    """Write the dataset into `folder` unless it already holds this spec; (reused, seconds)."""
    params = folder / "params.json"
    wanted = {"generator": GENERATOR_VERSION, **spec.__dict__}
    images = folder / "images"
    if params.exists() and json.loads(params.read_text()) == wanted:
        return True, 0.0
    start = time.perf_counter()
    if params.exists():
        params.unlink()
    for old in images.glob("*/*.jpg"):
        old.unlink()
    for label in range(spec.classes):
        (images / f"class_{label:02d}").mkdir(parents=True, exist_ok=True)
    plan = _image_plan(spec)
    chunks = [plan[k :: jobs * 4] for k in range(jobs * 4)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_write_images, [str(images)] * len(chunks), [spec] * len(chunks), chunks))
    params.write_text(json.dumps(wanted, indent=2) + "\n")  # last, so a half-written folder is redone
    return False, time.perf_counter() - start


# --- what is timed ----------------------------------------------------------------------------


def list_images(root: Path) -> list[str]:
    """Every .jpg under root, sorted (the decode baseline lists files too, as scan does)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found += [os.path.join(dirpath, name) for name in sorted(filenames) if name.endswith(".jpg")]
    return found


def decode_files(paths: list[str]) -> int:
    """Open and fully decode every file; returns the pixels decoded (so nothing is optimised away)."""
    pixels = 0
    for path in paths:
        with Image.open(path) as image:
            image.load()
            pixels += image.width * image.height
    return pixels


def decode_only(root: Path, jobs: int) -> None:
    paths = list_images(root)
    if jobs == 1:
        decode_files(paths)
        return
    chunk = max(8, len(paths) // (jobs * 8))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(decode_files, [paths[i : i + chunk] for i in range(0, len(paths), chunk)]))


def run_scan(root: Path, jobs: int, expected: int) -> None:
    from datasize import scan

    manifest = scan(root, jobs=jobs)
    bad = int((manifest["error"] != "").sum())
    if len(manifest) != expected or bad:
        raise RuntimeError(f"scan found {len(manifest)} rows ({bad} with errors), expected {expected}")


def run_validate(root: Path, jobs: int) -> dict[str, int]:
    from datasize import validate

    findings = validate(root, jobs=jobs)
    return findings.table["check"].value_counts().sort_index().to_dict()


def run_cleanvision(python: Path, root: Path) -> dict:
    """cleanvision in its own interpreter; its timings plus `total_s`, the subprocess's wall time."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", CLEANVISION_SNIPPET, str(root)], capture_output=True, text=True, check=False
    )
    total = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cleanvision failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return {**json.loads(lines[-1][len(RESULT_MARKER) :]), "total_s": total}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- cleanvision's environment ----------------------------------------------------------------


def setup_cleanvision(venv: Path) -> bool:
    """Create `venv` and pip-install cleanvision into it; False (with a message) when that fails."""
    print(f"creating {venv} and installing cleanvision into it ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "cleanvision"],
    ]
    for step in steps:
        if subprocess.run(step, check=False).returncode != 0:
            print(f"cleanvision setup failed at: {shlex.join(step)}")
            return False
    return True


def cleanvision_python(option: str | None) -> Path | None:
    """The interpreter to run cleanvision with, or None (with the reason printed) to skip it."""
    python = Path(option) if option else DEFAULT_CLEANVISION_VENV / "bin" / "python"
    if not python.exists():
        print(f"cleanvision: skipped, {python} does not exist (run with --setup-cleanvision)")
        return None
    probe = subprocess.run([str(python), "-c", "import cleanvision"], capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"cleanvision: skipped, {python} cannot import cleanvision")
        return None
    return python


# --- report -----------------------------------------------------------------------------------


def table_lines(cases: list[Case]) -> list[str]:
    width = max(len(c.name) for c in cases)
    head = f"{'case':<{width}}  {'images':>6}  {'median s':>8}  {'min s':>6}  {'images/s':>8}  each round (s)"
    lines = [head]
    for c in cases:
        rounds = " ".join(f"{s:.2f}" for s in c.seconds)
        lines.append(
            f"{c.name:<{width}}  {c.images:>6}  {c.median:>8.2f}  {min(c.seconds):>6.2f}  "
            f"{c.images / c.median:>8.0f}  {rounds}"
        )
    return lines


def ratio_lines(cases: dict[str, Case], pairs: list[tuple[str, str]]) -> list[str]:
    """`a / b` as ratios of median times and of minimum times: 2.0x means a takes twice as long."""
    width = max(len(f"{a} / {b}") for a, b in pairs)
    lines = [f"{'':<{width}}  {'medians':>7}  {'minimums':>8}"]
    for a, b in pairs:
        if a in cases and b in cases:
            median = cases[a].median / cases[b].median
            best = min(cases[a].seconds) / min(cases[b].seconds)
            lines.append(f"{a + ' / ' + b:<{width}}  {median:6.2f}x  {best:7.2f}x")
    return lines


def profile_scan(root: Path, top: int) -> None:
    """cProfile of one `scan(jobs=1)`, top functions by own time and by cumulative time."""
    from datasize import scan

    profiler = cProfile.Profile()
    profiler.runcall(scan, root, jobs=1)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n--- cProfile of scan(jobs=1), sorted by {order} ---")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="images to generate (default 3000)")
    parser.add_argument("--classes", type=int, default=10, help="class folders (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic dataset (default 0)")
    parser.add_argument("--min-side", type=int, default=160, help="smallest image side in px")
    parser.add_argument("--max-side", type=int, default=400, help="largest image side in px")
    parser.add_argument("--duplicate-fraction", type=float, default=0.01, help="near duplicates' share")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"dataset folder (default {DEFAULT_WORKDIR})"
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians reported")
    parser.add_argument(
        "--cleanvision-repeats", type=int, default=3, help="rounds (the first ones) that run cleanvision"
    )
    default_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument(
        "--jobs", type=int, default=default_jobs or 1, help="processes for the parallel rows (default: cores)"
    )
    parser.add_argument("--cleanvision-python", help="python of a venv with cleanvision installed")
    parser.add_argument(
        "--setup-cleanvision", action="store_true", help=f"create {DEFAULT_CLEANVISION_VENV} first"
    )
    parser.add_argument("--no-cleanvision", action="store_true", help="skip the cleanvision row")
    parser.add_argument("--no-validate", action="store_true", help="skip the validate row")
    parser.add_argument("--profile", type=int, metavar="TOP", default=0, help="print a cProfile of scan")
    args = parser.parse_args(argv)
    if args.n < args.classes or args.classes < 1:
        parser.error(f"--n={args.n} must be at least --classes={args.classes}, which must be positive")
    if not 8 <= args.min_side <= args.max_side:
        parser.error(f"need 8 <= --min-side <= --max-side, got {args.min_side} and {args.max_side}")
    if min(args.repeats, args.cleanvision_repeats, args.jobs) < 1:
        parser.error("--repeats, --cleanvision-repeats and --jobs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("\n".join(machine_lines()), flush=True)
    if args.setup_cleanvision and not args.cleanvision_python:
        setup_cleanvision(DEFAULT_CLEANVISION_VENV)
    spec = DatasetSpec(
        n=args.n,
        classes=args.classes,
        seed=args.seed,
        min_side=args.min_side,
        max_side=args.max_side,
        duplicate_fraction=args.duplicate_fraction,
        quality=90,
    )
    warmup_spec = dataclasses.replace(spec, n=WARMUP_IMAGES, classes=2)
    reused, seconds = ensure_dataset(args.workdir, spec, args.jobs)
    ensure_dataset(args.workdir / "warmup", warmup_spec, 1)
    root = args.workdir / "images"
    size_mb = sum(p.stat().st_size for p in root.glob("*/*.jpg")) / 1e6
    how = "reused" if reused else f"generated in {seconds:.1f} s"
    print(f"dataset: {root} ({args.n} JPEGs, {args.classes} classes, {size_mb:.1f} MB; {how})")

    python = None if args.no_cleanvision else cleanvision_python(args.cleanvision_python)
    decode_files(list_images(root))  # warm the page cache: every row reads from memory
    start = time.perf_counter()
    import datasize.dataset.manifest  # noqa: F401  (pandas: paid once here, not by the first scan row)

    print(
        f"datasize.dataset.manifest import (pandas): {time.perf_counter() - start:.2f} s, "
        "excluded from the rows"
    )

    cases = [
        Case("decode 1 proc", lambda: decode_only(root, 1), args.n, args.repeats),
        Case(f"decode {args.jobs} procs", lambda: decode_only(root, args.jobs), args.n, args.repeats),
        Case("scan jobs=1", lambda: run_scan(root, 1, args.n), args.n, args.repeats),
        Case(f"scan jobs={args.jobs}", lambda: run_scan(root, args.jobs, args.n), args.n, args.repeats),
    ]
    findings: dict[str, int] = {}
    if not args.no_validate:
        start = time.perf_counter()
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations  # noqa: F401  (paid once here so no validate row includes it)

        gx_import = time.perf_counter() - start
        first_validate = timed(lambda: run_validate(args.workdir / "warmup" / "images", args.jobs))
        print(
            f"great_expectations import: {gx_import:.2f} s; first validate() on {WARMUP_IMAGES} images "
            f"after it: {first_validate:.2f} s (both paid before the timed rounds, excluded from them)"
        )

        def validate_case() -> None:
            findings.update(run_validate(root, args.jobs))

        cases.append(Case(f"validate (scan jobs={args.jobs})", validate_case, args.n, args.repeats))
    cleanvision_runs: list[dict] = []
    if python is not None:

        def cleanvision_case() -> float:
            cleanvision_runs.append(run_cleanvision(python, root))
            return cleanvision_runs[-1]["find_issues_s"]

        cases.append(Case("cleanvision find_issues", cleanvision_case, args.n, args.cleanvision_repeats))

    print(f"load average before the rounds: {load_average()}", flush=True)
    for round_ in range(args.repeats):
        # Rotate the order every round so that no case always runs right after the same one.
        for case in cases[round_ % len(cases) :] + cases[: round_ % len(cases)]:
            if round_ >= case.rounds:
                continue
            start = time.perf_counter()
            own = case.run()
            case.seconds.append(own if own is not None else time.perf_counter() - start)
        print(f"round {round_ + 1}/{args.repeats} done", flush=True)

    print(f"load average after the rounds: {load_average()} (other work on the machine shows here)")
    print(
        f"\n{args.repeats} interleaved rounds (cleanvision in the first {args.cleanvision_repeats}); "
        "warm page cache"
    )
    print("\n".join(table_lines(cases)))
    by_name = {c.name: c for c in cases}
    parallel = f"decode {args.jobs} procs"
    pairs = [
        (parallel, "decode 1 proc"),  # what the extra cores give a decoder: 1/jobs is perfect
        (f"scan jobs={args.jobs}", "scan jobs=1"),
        ("scan jobs=1", "decode 1 proc"),
        (f"scan jobs={args.jobs}", parallel),
        (f"scan jobs={args.jobs}", "decode 1 proc"),
        (f"validate (scan jobs={args.jobs})", parallel),
        (f"validate (scan jobs={args.jobs})", f"scan jobs={args.jobs}"),
        ("cleanvision find_issues", f"scan jobs={args.jobs}"),
        ("cleanvision find_issues", f"validate (scan jobs={args.jobs})"),
        ("cleanvision find_issues", parallel),
    ]
    print(
        "\nratios of times (2.00x: the first takes twice as long as the second); the minimums are the "
        "least disturbed rounds, worth a look when other work shares the machine"
    )
    print("\n".join(ratio_lines(by_name, pairs)))
    if findings:
        print(f"\nvalidate findings by check: {findings}")
    if cleanvision_runs:
        last = cleanvision_runs[-1]
        totals = statistics.median(r["total_s"] for r in cleanvision_runs)
        imports = statistics.median(r["import_s"] for r in cleanvision_runs)
        print(
            f"cleanvision {last['cleanvision']} (pillow {last['pillow']}): median subprocess total "
            f"{totals:.2f} s, of which import {imports:.2f} s; issues found: {last['issues']}"
        )
    if args.profile:
        profile_scan(root, args.profile)


if __name__ == "__main__":
    main()
