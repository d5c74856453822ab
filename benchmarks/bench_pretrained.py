"""Pretrained EfficientNet-Lite0 against datasize's ConvNet: errors on a curve, the frozen curve's cost.

On each dataset (ImageNet-style folders; benchmarks/hard_sets.py writes photo_crops and mnist):

1. **Error at each curve size** (`datasize curve`, each in a fresh process, its run folder resumed
   and its recorded wall time reused), for
   - `convnet`: datasize's default model from scratch (`--epochs auto`, default fractions, 3 seeds);
   - `frozen<S>`: `--model efficientnet_lite0 --pretrained --frozen` with features at S px
     (`--frozen-sizes`, default 224,112: the native resolution, and half of it), `--epochs auto`;
   - `finetune<S>`: `--pretrained --freeze-epochs 1 --lr-mult 100` (fastai's fine_tune: one frozen
     pass, then the whole body at LR/2, the earliest layers at LR/2/100) at `--finetune-size` px with
     a fixed `--finetune-epochs` on `--finetune-fractions` x `--finetune-seeds`: the whole body trains
     on images, which a CPU affords only small.
2. **Cost** (`--stages cost`, interleaved per set, the order rotating): the frozen curve's whole
   command at the native 224 px (scan, validation, the feature pass, pilot, runs, forecast; default
   settings, a fresh run folder) against ONE feature pass alone (`build_feature_cache` on the same
   images, a fresh cache folder; its scan is outside the timing), and against the same curve trained
   end to end through a frozen body as fastai's frozen stage does (body forward-run every step, its
   BatchNorm layers in train mode and trainable, everything else frozen: `set_frozen` on the whole
   backbone, through `fit_one_cycle`'s `model_factory` on the 224 px images). That curve is far too
   slow for a CPU, so its cost is extrapolated: a training step (batch 64) and an evaluation image are
   timed on datasize's own `train_step` and `predict`, and every run the frozen curve made (its
   pilot's lengths included, from the run folder: steps, validation passes, the final training-set
   pass) is priced with them. `--e2e-check` runs one real short `fit_one_cycle` of it on the first
   set and prints measured against predicted, to check the extrapolation.
   `--stages overhead` runs the same curve again on the features its first run stored (`--cache-dir`):
   all of the curve but the pass, so pass + that = the curve at the code of the day, and the report's
   errors for 224 px come from it.
3. **BatchNorm statistics fixed or adapted** (`--stages bn`): on the same split at `--bn-size` px,
   `--bn-seeds` runs of the head on cached features (BN at ImageNet statistics) against the same
   runs through the frozen body with BN in train mode (its statistics and affine weights adapt, as
   fastai's `train_bn`), same epochs (the frozen curve's chosen length at that size, or
   `--bn-epochs`), LR, seeds and batches, no augmentation in either: mean error of each, their
   difference and its standard error, and the validation set's own binomial noise.
4. **The forecast's self-check** on every curve: `bench_epochs.py`'s backtests (fitted up to 1/4 or
   1/2 of the set, predicting 2x and 4x), the forecast against the last measured point.

Run (1.5-2 hours on 2 shared cores with one torch thread; every stage resumes):

    python benchmarks/hard_sets.py photo_crops /tmp/sets/photos --per-class 100
    python benchmarks/hard_sets.py mnist /tmp/sets/mnist --per-class 100
    python benchmarks/bench_pretrained.py --set photos=/tmp/sets/photos --set mnist=/tmp/sets/mnist \\
        --set digits=data/sample/digits --out /tmp/bench-pretrained --threads 1

`--stages` picks stages (cost, overhead, curves, bn, finetune, report); `--stages report` reads the folders
and trains nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODEL = "efficientnet_lite0"
NATIVE = 224
STAGES = ("cost", "overhead", "curves", "bn", "finetune", "report")


# ----------------------------------------------------------------------------------------------- curves
def curve_command(
    data: str, folder: Path, kind: str, size: int | None, args: argparse.Namespace
) -> list[str]:
    command = [sys.executable, "-m", "datasize", "curve", data, "-q", "-o", str(folder)]
    if kind == "frozen":
        command += ["--model", MODEL, "--pretrained", "--frozen"]
    elif kind == "finetune":
        command += ["--model", MODEL, "--pretrained", "--freeze-epochs", "1", "--lr-mult", "100",
                    "--epochs", str(args.finetune_epochs), "--fractions", args.finetune_fractions,
                    "--seeds", str(args.finetune_seeds)]  # fmt: skip
    if size is not None and not (kind == "frozen" and size == NATIVE):
        command += ["--size", str(size)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    return command


def run_curve(command: list[str], folder: Path) -> float:
    """Run (or resume) one curve in a fresh process; the wall time of its first complete run."""
    timing = folder / "bench_seconds.json"
    if timing.is_file():
        return float(json.loads(timing.read_text())["seconds"])
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    timing.write_text(json.dumps({"seconds": seconds, "command": command}))
    return seconds


def curve_errors(folder: Path) -> pd.DataFrame:
    """Mean error (%) and the seeds' sd at each size of a finished curve."""
    runs = pd.read_csv(folder / "runs.csv")
    ok = runs[runs["status"] == "ok"]
    table = ok.groupby("n_train")["error_rate"].agg(["mean", "std", "size"]).reset_index()
    table["mean"] *= 100
    table["std"] *= 100
    return table


def chosen_epochs(folder: Path) -> object:
    summary = json.loads((folder / "curve_summary.json").read_text())
    return summary.get("epochs", {}).get("epochs")


# ------------------------------------------------------------------------------------------------- cost
def frozen_body_factory(size: int):
    """fastai's frozen stage: the pretrained backbone with a fresh head (the cached-feature runs' own),
    everything but the head and the normalisation layers frozen; `fit_one_cycle` puts the model in
    train mode, so BN statistics update."""
    from datasize.training.backbones import backbone_spec, make_backbone
    from datasize.training.models import feature_head, set_frozen

    def factory(in_channels: int, n_classes: int):
        model = make_backbone(MODEL, in_channels=in_channels, n_classes=n_classes, pretrained=True, size=size)
        # the head the cached-feature runs train (feature_head), so that only BatchNorm differs
        model.head = feature_head(MODEL, features=backbone_spec(MODEL).features, n_classes=n_classes)
        set_frozen(model, True)
        return model

    return factory


def feature_pass_seconds(data: str, size: int, workdir: Path) -> tuple[float, int]:
    """One pass of the frozen body over every image, into a fresh cache folder (scan not timed)."""
    from datasize import scan
    from datasize.training.backbones import Backbone
    from datasize.training.features import build_feature_cache

    manifest = scan(data)
    fresh = Path(tempfile.mkdtemp(prefix="features-", dir=workdir))
    try:
        start = time.perf_counter()
        cache = build_feature_cache(
            manifest, root=data, backbone=Backbone(MODEL, pretrained=True, frozen=True), size=size,
            cache_dir=fresh, device="cpu",
        )  # fmt: skip
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return seconds, len(cache.paths)


def image_data(data: str, size: int):
    """The set's RGB images at `size` px on datasize's default split (what an unfrozen backbone trains on)."""
    from datasize.training.backbones import Backbone
    from datasize.training.preparation import prepare

    return prepare(data, size=size, backbone=Backbone(MODEL, pretrained=True), device="cpu")


def e2e_unit_costs(prepared, size: int, steps: int) -> dict[str, float]:
    """Seconds per training step (batch 64) and per evaluated image of the fastai-style frozen body, on
    datasize's own `train_step` and `predict`; one untimed warm-up step and pass first."""
    import torch

    from datasize.training.loop import (
        TrainConfig,
        build_model,
        make_batcher,
        make_optimizer,
        predict,
        train_step,
    )

    data = prepared.data
    config = TrainConfig(model=MODEL, pretrained=True, augment="none", device="cpu")
    device = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(data, config, frozen_body_factory(size), device)
    batcher = make_batcher(data, config, device)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    batches = [rng.choice(data.train, size=config.batch_size, replace=False) for _ in range(steps + 1)]
    model.train()
    train_step(model, optimizer, batcher, batches[0], generator)
    start = time.perf_counter()
    for batch in batches[1:]:
        loss = train_step(model, optimizer, batcher, batch, generator)
    float(loss)
    step = (time.perf_counter() - start) / steps
    rows = data.valid[: 2 * config.batch_size]
    predict(model, batcher, rows[: config.batch_size])
    start = time.perf_counter()
    predict(model, batcher, rows)
    per_image = (time.perf_counter() - start) / len(rows)
    return {"step": step, "eval_image": per_image}


def curve_runs(folder: Path) -> pd.DataFrame:
    """Every run a curve folder made: runs.csv, and the pilot's runs at other lengths than the chosen."""
    runs = pd.read_csv(folder / "runs.csv")[["n_train", "n_valid", "steps", "seconds"]]
    chosen = chosen_epochs(folder)
    extra = []
    for path in sorted((folder / "pilot").glob("e*-s*.json")):
        epochs = int(path.name[1:5])
        if epochs != chosen:
            run = json.loads(path.read_text())
            extra.append({k: run[k] for k in ("n_train", "n_valid", "steps", "seconds")})
    return pd.concat([runs, pd.DataFrame(extra)], ignore_index=True) if extra else runs


def e2e_seconds(
    runs: pd.DataFrame, unit: dict[str, float], batch_size: int = 64, max_evals: int = 8
) -> float:
    """What the runs would cost through the body: their steps, their validation passes (as `_train`
    schedules them), and the final pass over each run's training images."""
    from datasize.training.loop import _eval_epochs, steps_per_epoch

    total = 0.0
    for run in runs.itertuples():
        n_epochs = math.ceil(run.steps / steps_per_epoch(run.n_train, batch_size))
        passes = len(_eval_epochs(n_epochs, max_evals))
        total += run.steps * unit["step"] + (passes * run.n_valid + run.n_train) * unit["eval_image"]
    return total


def e2e_check(prepared, size: int, unit: dict[str, float], steps: int = 4) -> dict[str, float]:
    """One real short `fit_one_cycle` through the frozen body (1/16 of the training images), measured
    against what `e2e_seconds` predicts for it."""
    from datasize.training.loop import TrainConfig, fit_one_cycle

    data = prepared.data
    small = replace(data, train=data.train[::16])
    config = TrainConfig(model=MODEL, pretrained=True, augment="none", device="cpu", steps=steps, max_evals=1)
    result = fit_one_cycle(small, config=config, model_factory=frozen_body_factory(size))
    run = pd.DataFrame([{"n_train": len(small.train), "n_valid": len(small.valid), "steps": steps}])
    return {"measured": result.seconds, "predicted": e2e_seconds(run, unit, max_evals=1)}


# --------------------------------------------------------------------------------------------------- bn
def bn_runs(data: str, size: int, epochs: int, seeds: int) -> list[dict[str, object]]:
    """Cached-feature runs (BN fixed) and fastai-style frozen-body runs (BN adapting), same split."""
    from datasize.training.backbones import Backbone
    from datasize.training.loop import TrainConfig, fit_one_cycle
    from datasize.training.preparation import prepare

    features = prepare(data, size=size, backbone=Backbone(MODEL, pretrained=True, frozen=True), device="cpu")
    images = image_data(data, size)
    same = [np.array(p.cache.paths)[p.data.valid].tolist() for p in (features, images)]
    if same[0] != same[1]:
        raise RuntimeError("the feature and image preparations split differently")
    rows = []
    for seed in range(seeds):
        for kind, prepared, frozen, factory in (
            ("cached (BN fixed)", features, True, None),
            ("fastai frozen (BN train)", images, False, frozen_body_factory(size)),
        ):
            config = TrainConfig(model=MODEL, pretrained=True, frozen=frozen, epochs=epochs, seed=seed,
                                 augment="none", device="cpu")  # fmt: skip
            result = fit_one_cycle(prepared.data, config=config, model_factory=factory)
            rows.append({"kind": kind, "seed": seed, "error": result.error_rate, "n_valid": result.n_valid,
                         "n_train": result.n_train, "seconds": result.seconds})  # fmt: skip
            print(
                f"  bn {kind} seed {seed}: error {100 * result.error_rate:.2f}% ({result.seconds:.0f} s)",
                flush=True,
            )
    return rows


def bn_summary(rows: list[dict[str, object]]) -> dict[str, object]:
    table = pd.DataFrame(rows)
    out: dict[str, object] = {}
    means, ses = {}, {}
    for kind, group in table.groupby("kind", sort=False):
        errors = 100 * group["error"].to_numpy()
        means[kind] = errors.mean()
        ses[kind] = errors.std(ddof=1) / math.sqrt(len(errors)) if len(errors) > 1 else math.nan
        out[kind] = f"{errors.mean():.2f} ± {ses[kind]:.2f} ({', '.join(f'{e:.2f}' for e in errors)})"
    fixed, adapted = means["cached (BN fixed)"], means["fastai frozen (BN train)"]
    out["BN train - fixed"] = f"{adapted - fixed:+.2f} ± {math.hypot(*ses.values()):.2f}"
    p, n = fixed / 100, int(table["n_valid"].iloc[0])
    out["valid binomial sd"] = f"{100 * math.sqrt(p * (1 - p) / n):.2f} (n_valid {n})"
    seconds = table.groupby("kind", sort=False)["seconds"].median()
    out["seconds a run (BN train / cached)"] = f"{seconds.iloc[1]:.1f} / {seconds.iloc[0]:.2f}"
    return out


# ------------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", required=True, help="NAME=PATH of an ImageNet-style folder")
    parser.add_argument("--out", type=Path, required=True, help="run folders and results (resumed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, here and in every curve")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--frozen-sizes", default="224,112", help="feature resolutions of the frozen curves")
    parser.add_argument("--finetune-size", type=int, default=64)
    parser.add_argument("--finetune-epochs", type=int, default=4, help="unfrozen epochs after the frozen one")
    parser.add_argument("--finetune-fractions", default="1/16,1/4,1")
    parser.add_argument("--finetune-seeds", type=int, default=1)
    parser.add_argument("--e2e-steps", type=int, default=3, help="timed steps of the frozen body at 224 px")
    parser.add_argument("--e2e-check", action="store_true", help="one real short fastai-style run, first set")
    parser.add_argument("--no-convnet", action="store_true", help="curves: the pretrained ones only")
    parser.add_argument("--bn-size", type=int, default=64)
    parser.add_argument("--bn-seeds", type=int, default=3)
    parser.add_argument(
        "--bn-epochs", type=int, default=None, help="default: the frozen curve's at --bn-size"
    )
    parser.add_argument("--bn-sets", default=None, help="comma-separated set names (default: all)")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    sets = dict(spec.split("=", 1) for spec in args.set)
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads)
    frozen_sizes = [int(s) for s in args.frozen_sizes.split(",") if s]

    def folder(name: str, kind: str, size: int | None = None) -> Path:
        return args.out / f"{name}-{kind}{size or ''}"

    if (
        "cost" in stages
    ):  # the native frozen curve, its one feature pass and the end-to-end price, interleaved
        results = (
            json.loads((args.out / "cost.json").read_text()) if (args.out / "cost.json").is_file() else {}
        )
        for i, (name, data) in enumerate(sets.items()):
            if name in results:
                continue
            row: dict[str, object] = {}
            curve_folder = folder(name, "frozen", NATIVE)
            fresh_curve = not (curve_folder / "bench_seconds.json").is_file()
            order = ("pass", "curve") if i % 2 == 0 else ("curve", "pass")
            for what in order:
                if what == "pass":
                    row["pass_s"], row["images"] = feature_pass_seconds(data, NATIVE, args.out)
                else:
                    row["curve_s"] = run_curve(
                        curve_command(data, curve_folder, "frozen", NATIVE, args), curve_folder
                    )
                print(f"{name}: {what} done {json.dumps(row)}", flush=True)
            row["curve_fresh_in_this_run"] = fresh_curve
            prepared = image_data(data, NATIVE)
            unit = e2e_unit_costs(prepared, NATIVE, args.e2e_steps)
            runs = curve_runs(curve_folder)
            row |= {"step_s": unit["step"], "eval_image_s": unit["eval_image"], "runs": len(runs),
                    "steps": int(runs["steps"].sum()),
                    "head_fits_s": float(runs["seconds"].sum())}  # fmt: skip
            row["e2e_s"] = e2e_seconds(runs, unit)
            if args.e2e_check and i == 0:
                row["e2e_check"] = e2e_check(prepared, NATIVE, unit)
            del prepared
            results[name] = row
            (args.out / "cost.json").write_text(json.dumps(results, indent=1))
            print(f"{name}: {json.dumps(row)}", flush=True)

    if "curves" in stages:
        for name, data in sets.items():
            for kind, size in [("frozen", s) for s in frozen_sizes] + [("convnet", None)] * (
                not args.no_convnet
            ):
                f = folder(name, kind, size)
                seconds = run_curve(curve_command(data, f, kind, size, args), f)
                print(f"{name} {kind}{size or ''}: {seconds:.0f} s", flush=True)

    if "overhead" in stages:  # the native frozen curve again on its stored features: all but the pass
        for name, data in sets.items():
            stored = folder(name, "frozen", NATIVE) / "cache"
            f = folder(name, "frozen-stored", NATIVE)
            command = [*curve_command(data, f, "frozen", NATIVE, args), "--cache-dir", str(stored)]
            print(f"{name} frozen curve on stored features: {run_curve(command, f):.0f} s", flush=True)

    if "finetune" in stages:
        for name, data in sets.items():
            f = folder(name, "finetune", args.finetune_size)
            seconds = run_curve(curve_command(data, f, "finetune", args.finetune_size, args), f)
            print(f"{name} finetune{args.finetune_size}: {seconds:.0f} s", flush=True)

    if "bn" in stages:
        results = json.loads((args.out / "bn.json").read_text()) if (args.out / "bn.json").is_file() else {}
        chosen = [n.strip() for n in args.bn_sets.split(",")] if args.bn_sets else list(sets)
        for name in chosen:
            key = f"{name}@{args.bn_size}"
            if key in results:
                continue
            epochs = args.bn_epochs
            if epochs is None:
                f = folder(name, "frozen", args.bn_size)
                epochs = int(chosen_epochs(f)) if (f / "curve_summary.json").is_file() else 8
            print(f"{name}: BN comparison at {args.bn_size} px, {epochs} epochs", flush=True)
            results[key] = {
                "epochs": epochs,
                "runs": bn_runs(sets[name], args.bn_size, epochs, args.bn_seeds),
            }
            (args.out / "bn.json").write_text(json.dumps(results, indent=1))

    if "report" in stages:
        report(args, sets, frozen_sizes)


def _seconds(folder: Path) -> float:
    timing = folder / "bench_seconds.json"
    return float(json.loads(timing.read_text())["seconds"]) if timing.is_file() else math.nan


def report(args: argparse.Namespace, sets: dict[str, str], frozen_sizes: list[int]) -> None:
    from bench_epochs import evaluate

    pd.set_option("display.width", 200)
    kinds = ["convnet"] + [f"frozen{s}" for s in frozen_sizes] + [f"finetune{args.finetune_size}"]
    print("\n1. validation error (%) at each curve size: mean over seeds (sd)")
    summary, checks = [], []
    for name in sets:
        merged = None
        for kind in kinds:
            f = args.out / f"{name}-{kind}"
            stored = args.out / f"{name}-frozen-stored{NATIVE}"
            if kind == f"frozen{NATIVE}" and (stored / "runs.csv").is_file():
                f = stored  # the same curve on the features its first run stored (later code, if it moved)
            if not (f / "runs.csv").is_file():
                continue
            errors = curve_errors(f)
            cells = [f"{m:.2f} ({s:.2f})" if n > 1 else f"{m:.2f}" for m, s, n in
                     zip(errors["mean"], errors["std"], errors["size"], strict=True)]  # fmt: skip
            column = pd.DataFrame({"n_train": errors["n_train"], kind: cells})
            merged = column if merged is None else merged.merge(column, on="n_train", how="outer")
            timing = f / "bench_seconds.json"
            seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else math.nan
            label = f"{kind} (on stored features)" if f.name.startswith(f"{name}-frozen-stored") else kind
            summary.append(
                {"set": name, "model": label, "epochs": chosen_epochs(f), "curve_s": round(seconds)}
            )
            if kind.startswith(("convnet", "frozen")):
                _, rows = evaluate(f)
                checks += [{"set": name, "model": kind, **r} for r in rows]
        if merged is not None:
            print(f"{name}:")
            print(merged.sort_values("n_train").fillna("").to_string(index=False))
    print(pd.DataFrame(summary).to_string(index=False))
    cost_file = args.out / "cost.json"
    if cost_file.is_file():
        print("\n2. cost of the frozen curve at 224 px")
        rows = []
        for name, c in json.loads(cost_file.read_text()).items():
            stored = args.out / f"{name}-frozen-stored{NATIVE}"
            if (stored / "runs.csv").is_file():  # the stored-feature curve's runs, its pilot's included
                runs = curve_runs(stored)
                unit = {"step": c["step_s"], "eval_image": c["eval_image_s"]}
                c |= {"runs": len(runs), "steps": int(runs["steps"].sum()),
                      "head_fits_s": float(runs["seconds"].sum()),
                      "e2e_s": e2e_seconds(runs, unit)}  # fmt: skip
                c["composed_s"] = c["pass_s"] + _seconds(stored)
                print(
                    f"{name}: one pass + the curve on stored features = {c['composed_s']:.0f} s, "
                    f"{c['composed_s'] / c['pass_s']:.2f}x the pass; chosen epochs {chosen_epochs(stored)}"
                )
            rows.append({
                "set": name, "images": c["images"], "feature pass s": round(c["pass_s"], 1),
                "frozen curve s": round(c["curve_s"], 1),
                "curve / pass": round(c["curve_s"] / c["pass_s"], 2),
                "curve on stored features s": round(_seconds(args.out / f"{name}-frozen-stored{NATIVE}"), 1),
                "head fits s": round(c["head_fits_s"], 1), "runs": c["runs"], "steps": c["steps"],
                "e2e step s": round(c["step_s"], 2), "e2e eval ms/img": round(1000 * c["eval_image_s"], 1),
                "e2e curve s (extrapolated)": round(c["e2e_s"]),
                "e2e / frozen curve": round(c["e2e_s"] / c.get("composed_s", c["curve_s"]), 1),
            })  # fmt: skip
            if "e2e_check" in c:
                e = c["e2e_check"]
                print(
                    f"{name}: a real short fastai-style run took {e['measured']:.1f} s, "
                    f"predicted {e['predicted']:.1f} s"
                )
                # the step time that run implies (its evaluation priced as predicted), and the curve at it
                step = (e["measured"] - (e["predicted"] - 4 * c["step_s"])) / 4
                low = c["e2e_s"] + c["steps"] * (step - c["step_s"])
                c["curve_s"] = c.get("composed_s", c["curve_s"])
                print(
                    f"{name}: at the {step:.1f} s a step that run implies, "
                    f"the end-to-end curve: {low:.0f} s, "
                    f"{low / c['curve_s']:.1f}x the frozen curve"
                )
        print(pd.DataFrame(rows).to_string(index=False))
    bn_file = args.out / "bn.json"
    if bn_file.is_file():
        print(
            "\n3. BatchNorm statistics fixed (cached features) or adapting (fastai's frozen stage), error %"
        )
        rows = [{"set@px": key, "epochs": v["epochs"], **bn_summary(v["runs"])}
                for key, v in json.loads(bn_file.read_text()).items()]  # fmt: skip
        print(pd.DataFrame(rows).to_string(index=False))
    if checks:
        print("\n4. the forecast's backtests (absolute error in points at the predicted size)")
        table = pd.DataFrame(checks)
        print(table.round(2).to_string(index=False))
        means = table.groupby("model")[["datasize", "last1"]].mean()
        print("mean by model:")
        print(means.round(2).to_string())


if __name__ == "__main__":
    main()
