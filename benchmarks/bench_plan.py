"""Does `datasize plan` spend a budget well, and does its forecast hold? Checked by collecting for real.

From a pilot subset of a dataset, a learning curve is run (fractions 1/8..1 of the pilot, 3 seeds,
the same equal-step budget as `datasize curve`), then `plan_collection` plans how to spend a budget
of new images from the pool that remains. Those images are then added, and the model is retrained
(3 seeds, the same settings, `epochs` passes over the grown set, as a user would) and measured on
the fixed validation set. Beside the plan, the same budget is spent:
    uniform   evenly over every class (the issue's baseline), and
    worst     in proportion to each class's current error (a tempting heuristic; capped at the pool)
from the same pool, in the same order, and measured the same way.

Printed per (pilot, budget): the measured overall error of each allocation (mean of 3 seeds, with
the seeds' spread), the plan's expected error and 80% interval, whether the interval holds the
measured error, and the same for the uniform allocation (by `outlook` on the same curves); the
coverage of the per-class intervals; then a budget in money (the 'h' classes cost 3x) and a target
error (0.12), whose plan is collected and measured too. `--verbose` adds every class's errors.

Datasets (`--dataset`):
    shapes  (default) generated 8x8 grey images, 8 classes of 3 kinds: 'e0'-'e2' easy (distinct
            templates, little noise: no mistakes from the start); 'h0'-'h2' hard (one shared
            template plus a little of their own, noisy: mistaken for each other, and their error
            still falls at 640 images per class); 'n0', 'n1' easy images with 20% of each class's
            images drawn from the other's template (label noise: a floor near 20%, the largest
            error, so the tempting heuristic pours images into it for nothing). Every image is
            shifted by up to 1 pixel. Pilot 80 per class, pool 1,000 per class, 250 per class valid.
    digits  data/sample/digits (8x8) with Gaussian noise (sd 90 grey levels) on the images of digits
            5-9, train and valid alike; pilot 40 per class, the rest of the training side (~86 per
            class) as the pool, so budgets are small; 54 validation images per class make every
            per-class figure noisy.

`--synthetic N` adds N trials without training: six classes with known curves (the shapes of
benchmarks/bench_forecast.py: power laws with and without floors, knees, saturation, log laws,
plateaus), measured like a pilot curve (4 sizes, 3 seeds, seed and binomial noise); a plan for a
budget of 0.5, 1, 2 or 4x the data and one for a target (the true error with 4x every class) are
judged against the true curves, and the allocation against an oracle (greedy on the true curves).

Usage:
    python benchmarks/bench_plan.py                         # shapes, 2 pilots, ~7 min on 2 cores
    python benchmarks/bench_plan.py --pilots 1 --budgets 640 --quick --verbose
    python benchmarks/bench_plan.py --dataset digits --quick
    python benchmarks/bench_plan.py --pilots 0 --synthetic 120   # ~10 min
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from datasize.curves.folder import RunFolder
from datasize.curves.plan import CurveConfig, run_config
from datasize.curves.runner import learning_curve
from datasize.planning.allocation import outlook
from datasize.planning.collection import plan_collection, read_per_class
from datasize.planning.groups import confusion_groups, fit_curves
from datasize.training.loop import TrainConfig, fit_one_cycle
from datasize.training.preparation import prepare

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("e0", "e1", "e2", "h0", "h1", "h2", "n0", "n1")
NOISE = {"e": 0.4, "h": 0.8, "n": 0.4}  # pixel noise (template units) per kind
GAP = 0.25  # the 'h' classes: one shared template plus this much of a template of their own
SWAP = 0.2  # share of an 'n' class's images drawn from the other 'n' class's template
INTERVAL = (0.1, 0.9)


# --- data ----------------------------------------------------------------------------------------


def shape_templates(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    out = {f"e{i}": rng.standard_normal((8, 8)) for i in range(3)}
    base = rng.standard_normal((8, 8))
    out |= {f"h{i}": base + GAP * rng.standard_normal((8, 8)) for i in range(3)}
    return out | {f"n{i}": rng.standard_normal((8, 8)) for i in range(2)}


def shape_image(templates: dict[str, np.ndarray], label: str, rng: np.random.Generator) -> np.ndarray:
    kind = label[0]
    if kind == "n" and rng.random() < SWAP:
        label = "n1" if label == "n0" else "n0"
    x = templates[label] + NOISE[kind] * rng.standard_normal((8, 8))
    x = np.roll(x, tuple(rng.integers(-1, 2, size=2)), axis=(0, 1))
    return np.clip(128 + 50 * x, 0, 255).astype(np.uint8)


def write_shapes(root: Path, *, n_train: int, n_valid: int, seed: int) -> Path:
    """train/<class>/*.png and valid/<class>/*.png; kept while the settings stay the same."""
    stamp = root / "settings.json"
    settings = {
        "n_train": n_train,
        "n_valid": n_valid,
        "seed": seed,
        "noise": NOISE,
        "gap": GAP,
        "swap": SWAP,
    }
    settings |= {"labels": SHAPES}
    if stamp.is_file() and json.loads(stamp.read_text()) == settings:
        return root
    shutil.rmtree(root, ignore_errors=True)
    templates = shape_templates(seed)
    for k, label in enumerate(SHAPES):
        for side, n in (("train", n_train), ("valid", n_valid)):
            rng = np.random.default_rng([seed, k, side == "valid"])
            folder = root / side / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(shape_image(templates, label, rng)).save(folder / f"{i:04d}.png")
    stamp.write_text(json.dumps(settings))
    return root


def write_noisy_digits(root: Path, *, seed: int) -> Path:
    """data/sample/digits with noise on digits 5-9 (one fixed draw per image)."""
    stamp = root / "settings.json"
    if stamp.is_file():
        return root
    source = ROOT / "data" / "sample" / "digits"
    for i, path in enumerate(sorted(source.glob("*/*.png"))):
        image = np.asarray(Image.open(path).convert("L"), dtype=float)
        if int(path.parent.name) >= 5:
            image = image + np.random.default_rng([seed, i]).normal(0, 90, image.shape)
        target = root / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(target)
    stamp.write_text("{}")
    return root


# --- collecting and measuring ----------------------------------------------------------------------


def class_rows(prepared, rows: np.ndarray) -> dict[str, np.ndarray]:
    labels = np.array(prepared.cache.labels, dtype=object)
    return {c: np.sort(rows[labels[rows] == c]) for c in prepared.data.classes}


def pilot_and_pool(prepared, *, per_class: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A seeded pilot of `per_class` training images per class; the rest, shuffled, is the pool."""
    pilot, pool = [], {}
    for k, (label, rows) in enumerate(class_rows(prepared, prepared.data.train).items()):
        order = np.random.default_rng([seed, k]).permutation(rows)
        pilot.append(order[:per_class])
        pool[label] = order[per_class:]
    return np.sort(np.concatenate(pilot)), pool


def worst_first(errors: np.ndarray, budget: float) -> np.ndarray:
    """The budget in proportion to each class's current error."""
    share = errors / errors.sum() if errors.sum() > 0 else np.full(len(errors), 1 / len(errors))
    return np.floor(budget * share)


def measure(prepared, train_rows: np.ndarray, curve_config: CurveConfig, seeds: int) -> dict[str, object]:
    """Train `seeds` runs on these rows, as the curve's largest runs were trained; mean errors."""
    config = run_config(curve_config, curve_config.lr, len(train_rows))
    overall, per_class = [], []
    for s in range(seeds):
        result = fit_one_cycle(replace(prepared.data, train=train_rows), config=replace(config, seed=s))
        overall.append(result.error_rate)
        per_class.append(result.per_class.set_index("label")["error_rate"])
    return {
        "error": float(np.mean(overall)),
        "sd": float(np.std(overall, ddof=1)),
        "per_class": pd.concat(per_class, axis=1).mean(axis=1),
    }


def grown(pilot: np.ndarray, pool: dict[str, np.ndarray], labels: list[str], extra: np.ndarray) -> np.ndarray:
    taken = [pool[label][: int(x)] for label, x in zip(labels, extra, strict=True)]
    too_many = [label for label, x in zip(labels, extra, strict=True) if x > len(pool[label])]
    if too_many:
        raise SystemExit(f"the pool has too few images of {too_many}: lower --budgets")
    return np.sort(np.concatenate([pilot, *taken]))


# --- the study -------------------------------------------------------------------------------------


def run_pilot(args, prepared, pilot_seed: int, workdir: Path) -> list[dict[str, object]]:
    pilot, pool = pilot_and_pool(prepared, per_class=args.pilot, seed=pilot_seed)
    curve_config = CurveConfig(
        fractions=(1 / 8, 1 / 4, 1 / 2, 1.0),
        seeds=args.seeds,
        lr=args.lr,
        train=TrainConfig(epochs=args.epochs, seed=10 * pilot_seed, device="cpu"),
    )
    folder = workdir / f"pilot{pilot_seed}"
    start = time.perf_counter()
    pilot_prepared = replace(prepared, data=replace(prepared.data, train=pilot))
    learning_curve(pilot_prepared, config=curve_config, lr=args.lr, folder=folder)
    print(
        f"\npilot {pilot_seed}: {len(pilot)} images, curve in {time.perf_counter() - start:.0f} s", flush=True
    )
    groups = confusion_groups(RunFolder(folder).largest_predictions())
    curves = fit_curves(read_per_class(folder), groups=groups, n_boot=args.n_boot, seed=0, interval=INTERVAL)
    labels = list(prepared.data.classes)
    print(f"  groups: {sorted(set(groups.values())) or 'none'}")
    rows = []
    scenarios = [("budget", b, None) for b in args.budgets]
    if pilot_seed == 0 and not args.quick:
        scenarios += [("money", args.budgets[0], {"h0": 3.0, "h1": 3.0, "h2": 3.0, "*": 1.0})]
        scenarios += [("target", args.target, None)]
    cache: dict[tuple[int, ...], dict[str, object]] = {}

    def measured(extra: np.ndarray) -> dict[str, object]:
        key = tuple(int(x) for x in extra)
        if key not in cache:
            cache[key] = measure(prepared, grown(pilot, pool, labels, extra), curve_config, args.seeds)
        return cache[key]

    for kind, amount, cost in scenarios:
        if cost is not None and not set(cost) - {"*"} <= set(labels):
            continue  # the money scenario prices the shapes' hard pair
        start = time.perf_counter()
        if kind == "target":
            plan = plan_collection(folder, target_error=amount, n_boot=args.n_boot, interval=INTERVAL)
        else:
            plan = plan_collection(folder, budget=amount, cost=cost, n_boot=args.n_boot, interval=INTERVAL)
        planning = time.perf_counter() - start
        by_label = plan.table.set_index("label").reindex(labels)
        extra = by_label["collect"].to_numpy(dtype=float)
        costs = by_label["cost"].to_numpy(dtype=float)
        spend = plan.spent
        uniform = np.floor(spend / len(labels) / costs + 1e-9)
        worst = np.floor(worst_first(by_label["error_now"].to_numpy(dtype=float), spend) / costs)
        worst = np.minimum(worst, [len(pool[x]) for x in labels])  # digits' pool is small
        row = {
            "pilot": pilot_seed,
            "scenario": kind,
            "amount": amount,
            "spent": spend,
            "planning_s": planning,
        }
        row |= {
            "status": str(plan.status) if plan.status else "",
            "plan_alloc": dict(zip(labels, extra.astype(int).tolist(), strict=True)),
        }
        row |= {"now": curves.error_now, "expected": plan.expected, "low": plan.low, "high": plan.high}
        if plan.images == 0:
            rows.append(row | {"plan": float("nan")})
            continue
        got = measured(extra)
        row |= {"plan": got["error"], "plan_sd": got["sd"], "covered": plan.low <= got["error"] <= plan.high}
        per = got["per_class"].reindex(labels).to_numpy()
        inside = (by_label["low"].to_numpy() <= per) & (per <= by_label["high"].to_numpy())
        row["class_covered"] = f"{int(inside.sum())}/{len(labels)}"
        row["class_miss"] = float(np.mean(np.abs(by_label["error_after"].to_numpy() - per)))
        if kind != "target":
            per_group = {
                x: sum(uniform[labels.index(y)] for y in g.labels) for g in curves.groups for x in g.labels
            }
            u_seen = outlook(
                curves, np.array([per_group[g.labels[0]] for g in curves.groups]), interval=INTERVAL
            )
            u_got = measured(uniform)
            w_got = measured(worst)
            row |= {"uniform": u_got["error"], "uniform_sd": u_got["sd"], "uniform_expected": u_seen.overall}
            row |= {"uniform_low": u_seen.overall_low, "uniform_high": u_seen.overall_high}
            row |= {"uniform_covered": u_seen.overall_low <= u_got["error"] <= u_seen.overall_high}
            row |= {"worst": w_got["error"], "worst_sd": w_got["sd"]}
            if args.verbose:
                detail = pd.DataFrame(
                    {
                        "plan_n": extra,
                        "plan": got["per_class"].reindex(labels).to_numpy(),
                        "expected": by_label["error_after"].to_numpy(),
                        "uniform_n": uniform,
                        "uniform": u_got["per_class"].reindex(labels).to_numpy(),
                        "u_expected": u_seen.expected[[u_seen.labels.index(x) for x in labels]],
                        "now": by_label["error_now"].to_numpy(),
                    },
                    index=labels,
                )
                print(detail.round(3).to_string())
        else:
            row |= {"target_met": got["error"] <= amount}
        rows.append(row)
        print(line(row), flush=True)
    return rows


def pct(x: float) -> str:
    return "   n/a" if x != x else f"{100 * x:5.1f}%"


def line(r: dict[str, object]) -> str:
    sd = 100 * r.get("plan_sd", 0)
    head = f"  {r['scenario']:>6} {r['amount']:>6} spent {r['spent']:>7.0f}: plan {pct(r['plan'])} ±{sd:.1f}"
    inside = "in" if r.get("covered") else "OUT"
    head += f" (expected {pct(r['expected'])}, 80% {pct(r['low'])}–{pct(r['high'])}, {inside})"
    if "uniform" in r:
        inside = "in" if r["uniform_covered"] else "OUT"
        head += f" | uniform {pct(r['uniform'])} ±{100 * r['uniform_sd']:.1f}"
        head += f" (expected {pct(r['uniform_expected'])}, {inside}) | worst-first {pct(r['worst'])}"
    if "target_met" in r:
        head += f" | target {pct(r['amount'])} {'met' if r['target_met'] else 'MISSED'}"
    return (
        head + f"\n         plan: {r['plan_alloc']}; classes in their intervals {r.get('class_covered', '-')}"
    )


def summary(rows: list[dict[str, object]]) -> list[str]:
    table = pd.DataFrame(rows)
    spent = table[table["scenario"].isin(["budget", "money"]) & table["plan"].notna()]
    out = ["", "summary"]
    if not spent.empty:
        wins = int((spent["plan"] < spent["uniform"]).sum())
        out.append(
            f"  plan beat uniform in {wins}/{len(spent)} budgets; mean measured error "
            f"plan {pct(spent['plan'].mean())}, uniform {pct(spent['uniform'].mean())}, "
            f"worst-first {pct(spent['worst'].mean())}"
        )
        out.append(
            f"  mean cut vs uniform {100 * (spent['uniform'] - spent['plan']).mean():.2f} points; "
            f"plan |expected - measured| {100 * (spent['expected'] - spent['plan']).abs().mean():.2f} points"
        )
        covered = pd.concat([spent["covered"], spent["uniform_covered"]]).astype(bool)
        held = f"{int(covered.sum())}/{len(covered)}"
        out.append(f"  80% intervals holding the measured overall error: {held} (plan and uniform)")
    measured = table[table["plan"].notna()]
    if "class_covered" in measured:
        parts = [tuple(map(int, x.split("/"))) for x in measured["class_covered"]]
        n, total = sum(a for a, _ in parts), sum(b for _, b in parts)
        out.append(f"  per-class 80% intervals holding the measured class error: {n}/{total}")
    return out


# --- synthetic curves: the statistics alone, many times ------------------------------------------------


def synthetic_trial(index: int, *, n_boot: int) -> dict[str, object]:
    """Six classes with known curves (bench_forecast's shapes), measured like a pilot curve; a plan
    for a budget and one for a target, judged against the truth."""
    from bench_forecast import SHAPES as FORECAST_SHAPES
    from bench_forecast import measure as measure_runs
    from bench_forecast import true_curve

    rng = np.random.default_rng([2024, index])
    have = int(rng.choice([50, 100, 200, 400]))
    spread = rng.uniform(0.03, 0.15)
    classes = {f"c{k}": true_curve(str(rng.choice(FORECAST_SHAPES)), rng, 4 * have) for k in range(6)}
    valid = {label: int(rng.integers(100, 501)) for label in classes}
    weights = np.array(list(valid.values())) / sum(valid.values())
    sizes = [have // 8, have // 4, have // 2, have]
    rows = [
        {
            "n_train": 6 * n,
            "seed": s,
            "label": label,
            "n_train_class": n,
            "n_valid_class": valid[label],
            "error_rate": e,
        }
        for n in sizes
        for label, curve in classes.items()
        for s, e in enumerate(
            measure_runs(np.full(3, float(curve(n))), rng, spread=spread, n_valid=valid[label])
        )
    ]
    table = pd.DataFrame(rows)

    def truth(extra: np.ndarray) -> float:
        return float(weights @ [curve(have + x) for curve, x in zip(classes.values(), extra, strict=True)])

    def rerun(extra: np.ndarray) -> float:
        return float(
            sum(
                w
                * measure_runs(
                    np.full(3, float(curve(have + x))), rng, spread=spread, n_valid=valid[label]
                ).mean()
                for w, (label, curve), x in zip(weights, classes.items(), extra, strict=True)
            )
        )

    budget = 6 * have * [0.5, 1, 2, 4][index % 4]
    plan = plan_collection(table, budget=budget, groups={}, n_boot=n_boot, seed=index, interval=INTERVAL)
    extra = plan.table.set_index("label").reindex(list(classes))["collect"].to_numpy(dtype=float)
    measured = rerun(extra)
    uniform = np.full(6, float(np.floor(budget / 6)))
    oracle = np.zeros(6)
    for _ in range(200):  # greedy on the true curves: the best a planner could do
        step = budget / 200
        gains = [
            w * (float(c(have + x)) - float(c(have + x + step)))
            for w, c, x in zip(weights, classes.values(), oracle, strict=True)
        ]
        oracle[int(np.argmax(gains))] += step
    target = truth(np.full(6, 3.0 * have))  # the error with 4x the images of every class
    aimed = plan_collection(
        table, target_error=target, groups={}, n_boot=n_boot, seed=index, interval=INTERVAL
    )
    aimed_extra = aimed.table.set_index("label").reindex(list(classes))["collect"].to_numpy(dtype=float)
    return {
        "multiple": budget / (6 * have),
        "covered": plan.low <= measured <= plan.high,
        "miss": abs(plan.expected - truth(extra)),
        "plan": truth(extra),
        "uniform": truth(uniform),
        "oracle": truth(oracle),
        "target_status": str(aimed.status),
        "target_met": truth(aimed_extra) <= target,
        "target_images": aimed.images / (18 * have),  # over the images of 4x every class
    }


def synthetic_summary(rows: list[dict[str, object]]) -> list[str]:
    t = pd.DataFrame(rows)
    gap = t["uniform"] - t["oracle"]
    useful = gap > 1e-4
    captured = ((t["uniform"] - t["plan"])[useful] / gap[useful]).clip(-1, 1)
    out = ["", f"synthetic curves: {len(t)} trials of 6 classes (bench_forecast's shapes), 3 seeds, 4 sizes"]
    for multiple, part in t.groupby("multiple"):
        out.append(
            f"  budget {multiple:g}x the data: interval coverage {part['covered'].mean():.0%}, "
            f"|expected - true| {100 * part['miss'].mean():.2f} points, plan better than uniform "
            f"{(part['plan'] <= part['uniform'] + 1e-12).mean():.0%} (by the truth)"
        )
    out.append(
        f"  80% interval coverage {t['covered'].mean():.0%}; of the cut an oracle makes over uniform, "
        f"the plan makes {captured.median():.0%} (median), {captured.mean():.0%} (mean)"
    )
    reached = t[t["target_status"].isin(["reachable", "reached"])]
    counts = t["target_status"].value_counts().to_dict()
    out.append(
        f"  target (the true error with 4x every class): {counts}; planned and truly met "
        f"{reached['target_met'].mean():.0%} of {len(reached)}; images planned / 4x-uniform's "
        f"median {reached['target_images'].median():.2f}"
    )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["shapes", "digits"], default="shapes")
    parser.add_argument(
        "--pilot", type=int, default=None, help="pilot images per class (shapes 80, digits 40)"
    )
    parser.add_argument(
        "--budgets", type=float, nargs="+", default=None, help="new images (default: 0.5x, 1x, 2x the pilot)"
    )
    parser.add_argument("--target", type=float, default=0.12, help="the target error of the target scenario")
    parser.add_argument("--pilots", type=int, default=2, help="pilot draws (each with its own curve)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per curve size and per measurement")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: best on a shared 2-core box)"
    )
    parser.add_argument("--quick", action="store_true", help="budgets only: no money or target scenario")
    parser.add_argument("--verbose", action="store_true", help="per-class measured and expected errors")
    parser.add_argument(
        "--synthetic", type=int, default=0, help="also (or with --pilots 0, only) this many synthetic trials"
    )
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "datasize-bench-plan")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.synthetic:
        sys.path.insert(0, str(Path(__file__).parent))
        trials = [synthetic_trial(i, n_boot=min(args.n_boot, 100)) for i in range(args.synthetic)]
        print("\n".join(synthetic_summary(trials)), flush=True)
        if not args.pilots:
            print(f"total {time.perf_counter() - start:.0f} s")
            return
    data = args.workdir / args.dataset
    if args.dataset == "shapes":
        write_shapes(data, n_train=1080, n_valid=250, seed=0)
        args.pilot = args.pilot or 80
        prepared = prepare(data, size=8, jobs=1, cache_dir=args.workdir / "cache-shapes")
    else:
        write_noisy_digits(data, seed=0)
        args.pilot = args.pilot or 40
        prepared = prepare(data, size=8, jobs=1, valid_pct=0.3, cache_dir=args.workdir / "cache-digits")
    n_classes = len(prepared.data.classes)
    multiples = (1, 2) if args.dataset == "shapes" else (0.375, 0.75)  # digits' pool is small
    args.budgets = args.budgets or [args.pilot * n_classes * m for m in multiples]
    print(
        f"{args.dataset}: {len(prepared.data.train)} train, {len(prepared.data.valid)} valid, "
        f"{n_classes} classes; pilot {args.pilot}/class; budgets {args.budgets}; "
        f"torch threads {args.threads}; pid {os.getpid()}"
    )
    runs = args.workdir / f"runs-{args.dataset}-{int(time.time())}"
    rows = []
    for pilot_seed in range(args.pilots):
        rows += run_pilot(args, prepared, pilot_seed, runs)
    print("\n".join(summary(rows)))
    print(f"total {time.perf_counter() - start:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
