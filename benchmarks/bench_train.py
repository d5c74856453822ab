"""How fast does `fit_one_cycle` train, against the bare model loop and a plain PIL-decoding PyTorch loop?

One run, the same data, model, initial weights, batch size and number of optimiser steps for every
contender, fp32, eager mode, the default torch thread count (`--threads` changes it). Every
contender is timed over its training loop only; one-off setup (scanning, decoding the cache, making
the pre-cut tensors, building the model for the loops written here) is outside the timings:

- bare: the practical limit. The exact batches `fit_one_cycle` trains on (same rows, same shift
  augmentation; replayed with its generator and pre-cut as normalised float tensors in
  channels_last) go through forward + cross_entropy + backward + AdamW step and nothing else. Its
  validation passes (each epoch on the validation set, once on the training set at the end, batches
  of EVAL_BATCH (64) under `inference_mode`, on pre-made tensors) are timed apart, so `bare` and `bare+eval`
  come from the same run.
- fit_one_cycle: the whole `datasize.training.loop.fit_one_cycle(data, config=...)` call: normalisation
  statistics, model build, batch cutting and augmentation from the uint8 cache, one-cycle schedule,
  per-epoch validation, final predictions, train error and diagnosis. The time spent inside its
  `predict` calls is measured in the run (a timing wrapper) and reported as its eval part.
- pil wN: a plain `Dataset`/`DataLoader` loop as users commonly write it: `__getitem__` opens the PNG
  with PIL, converts, resizes, shifts it at random by the same up-to-1/8-side amount, and normalises,
  every epoch, with `num_workers=N` (workers restart each epoch, the DataLoader default). Same
  batches of rows as the others. Its validation passes decode with PIL too and are timed apart.

The bare and PIL loops use one AdamW parameter group at a constant LR (bare: fused, as datasize's;
PIL: the default a user gets); `fit_one_cycle` uses its one-cycle schedule and decay/no-decay
groups (the cost of that belongs to it). Rounds are interleaved, the order rotating each round;
medians and minimums are reported, and every ratio is taken within this one run.

Usage:
    python benchmarks/bench_train.py                     # digits sample, convnet, 3 rounds
    python benchmarks/bench_train.py --model resnet --rounds 2
    python benchmarks/bench_train.py --data PATH --size 32 --pil-workers 0 --profile 30
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from machine_info import load_average, machine_lines
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import datasize.training.loop as train_module
from datasize.training.batches import EVAL_BATCH, Batcher, Normalizer, TrainData
from datasize.training.loop import TrainConfig, fit_one_cycle, steps_per_epoch
from datasize.training.models import make_model
from datasize.training.preparation import prepare

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / "data" / "sample" / "digits"
SHIFT_FRACTION = 0.125  # datasize's random_shift: up to 1/8 of the side


@dataclass(frozen=True)
class Plan:
    """The batches every contender trains on: cache rows per step, per epoch."""

    epochs: list[list[np.ndarray]]  # epochs[e][s]: cache rows of step s of epoch e
    tensors: list[list[tuple[torch.Tensor, torch.Tensor]]]  # the same, cut and augmented by datasize
    valid: list[tuple[torch.Tensor, torch.Tensor]]  # validation set, normalised, EVAL_BATCH chunks
    train_eval: list[tuple[torch.Tensor, torch.Tensor]]  # training set without augmentation, chunks

    @property
    def steps(self) -> int:
        return sum(len(e) for e in self.epochs)

    @property
    def images(self) -> int:
        return sum(len(rows) for e in self.epochs for rows in e)


@dataclass(frozen=True)
class Timing:
    """One run of one contender."""

    total: float  # seconds, training loop with its evaluation
    evaluation: float  # seconds of that spent in validation / train-error passes
    accuracy: float  # validation accuracy at the end (a sanity check that it learnt)

    @property
    def train(self) -> float:
        return self.total - self.evaluation


@dataclass
class Case:
    name: str
    run: Callable[[], Timing]
    timings: list[Timing] = field(default_factory=list)

    def median(self, part: str = "total") -> float:
        return statistics.median(getattr(t, part) for t in self.timings)

    def minimum(self, part: str = "total") -> float:
        return min(getattr(t, part) for t in self.timings)


# --- the batches ------------------------------------------------------------------------------


def make_plan(data: TrainData, config: TrainConfig) -> Plan:
    """Replay `fit_one_cycle`'s draws (same generator, same order of calls) to get its exact batches."""
    norm = Normalizer.fit(data.cache.images, data.train)
    batcher = Batcher(data, norm, torch.device("cpu"), config.augment)
    generator = torch.Generator().manual_seed(config.seed)
    per_epoch = steps_per_epoch(len(data.train), config.batch_size)
    epochs, tensors = [], []
    for _ in range(config.epochs):
        order = data.train[torch.randperm(len(data.train), generator=generator).numpy()]
        rows = np.array_split(order, per_epoch)
        epochs.append(rows)
        tensors.append([batcher.train_batch(r, generator) for r in rows])

    def chunks(rows: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
        parts = [rows[s : s + EVAL_BATCH] for s in range(0, len(rows), EVAL_BATCH)]
        return [(batcher.inputs(p), batcher.targets[p]) for p in parts]

    return Plan(epochs, tensors, chunks(data.valid), chunks(data.train))


def fresh_model(data: TrainData, config: TrainConfig) -> nn.Module:
    """The model `fit_one_cycle` builds for this seed: same weights, channels_last."""
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = make_model(config.model, in_channels=data.cache.channels, n_classes=data.n_classes)
    return model.to(memory_format=torch.channels_last)


def plain_optimizer(model: nn.Module, config: TrainConfig, *, fused: bool | None = None) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        betas=(0.9, 0.99),
        eps=1e-5,
        fused=fused,
    )


@torch.inference_mode()
def evaluate(model: nn.Module, batches: object) -> float:
    """Accuracy over (x, y) batches, in eval mode."""
    model.eval()
    right = total = 0
    for x, y in batches:
        logits = model(x.contiguous(memory_format=torch.channels_last))
        right += int((logits.argmax(1) == y).sum())
        total += len(y)
    model.train()
    return right / max(total, 1)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


# --- the contenders ---------------------------------------------------------------------------


def run_bare(data: TrainData, config: TrainConfig, plan: Plan) -> Timing:
    model = fresh_model(data, config)
    optimizer = plain_optimizer(model, config, fused=True)  # as fit_one_cycle's
    evaluation, accuracy = 0.0, 0.0
    start = time.perf_counter()
    for epoch in plan.tensors:
        model.train()
        for x, y in epoch:
            train_step(model, optimizer, x, y)
        tick = time.perf_counter()
        accuracy = evaluate(model, plan.valid)
        evaluation += time.perf_counter() - tick
    tick = time.perf_counter()
    evaluate(model, plan.train_eval)
    evaluation += time.perf_counter() - tick
    return Timing(time.perf_counter() - start, evaluation, accuracy)


@contextlib.contextmanager
def evaluation_timer():
    """Seconds spent inside datasize's `predict` (evaluation passes) while the block runs, in [0]
    (also used by bench_curve.py)."""
    real, spent = train_module.predict, [0.0]

    def timed_predict(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    with mock.patch.object(train_module, "predict", timed_predict):
        yield spent


def run_fit(data: TrainData, config: TrainConfig) -> Timing:
    with evaluation_timer() as evaluation:
        start = time.perf_counter()
        result = fit_one_cycle(data, config=config)
        total = time.perf_counter() - start
    return Timing(total, evaluation[0], float(result.epochs["accuracy"].iloc[-1]))


class PngDataset(Dataset):
    """Opens, decodes, resizes, shifts and normalises one image per item, every time it is asked for."""

    def __init__(self, data: TrainData, root: Path, norm: Normalizer, *, shift: int) -> None:
        self.paths = [root / p for p in data.cache.paths]
        self.targets = data.targets
        self.size = data.cache.size
        self.mode = "L" if data.cache.channels == 1 else "RGB"
        self.mean = torch.tensor(norm.mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(norm.std, dtype=torch.float32).view(-1, 1, 1)
        self.shift = shift

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[i]) as image:
            image = image.convert(self.mode).resize((self.size, self.size), Image.Resampling.BILINEAR)
        if self.shift:
            dx, dy = torch.randint(-self.shift, self.shift + 1, (2,)).tolist()
            image = image.transform(image.size, Image.Transform.AFFINE, (1, 0, dx, 0, 1, dy), fillcolor=0)
        x = torch.from_numpy(np.array(image, dtype=np.float32))
        x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)
        return (x - self.mean) / self.std, int(self.targets[i])


def run_pil(data: TrainData, config: TrainConfig, plan: Plan, root: Path, workers: int) -> Timing:
    norm = Normalizer.fit(data.cache.images, data.train)
    side = data.cache.size
    shift = max(1, round(side * SHIFT_FRACTION)) if config.augment != "none" else 0
    augmented, plain = PngDataset(data, root, norm, shift=shift), PngDataset(data, root, norm, shift=0)

    def loader(dataset: PngDataset, batches: list[np.ndarray]) -> DataLoader:
        return DataLoader(dataset, batch_sampler=[b.tolist() for b in batches], num_workers=workers)

    def eval_batches(rows: np.ndarray) -> list[np.ndarray]:
        return [rows[s : s + EVAL_BATCH] for s in range(0, len(rows), EVAL_BATCH)]

    torch.manual_seed(config.seed)  # the shifts
    model = fresh_model(data, config)
    optimizer = plain_optimizer(model, config)
    evaluation, accuracy = 0.0, 0.0
    start = time.perf_counter()
    for epoch in plan.epochs:
        model.train()
        for x, y in loader(augmented, epoch):
            train_step(model, optimizer, x.contiguous(memory_format=torch.channels_last), y)
        tick = time.perf_counter()
        accuracy = evaluate(model, loader(plain, eval_batches(data.valid)))
        evaluation += time.perf_counter() - tick
    tick = time.perf_counter()
    evaluate(model, loader(plain, eval_batches(data.train)))
    evaluation += time.perf_counter() - tick
    return Timing(time.perf_counter() - start, evaluation, accuracy)


# --- where fit_one_cycle's own time goes --------------------------------------------------------


def breakdown(data: TrainData, config: TrainConfig, plan: Plan, repeats: int = 5) -> list[tuple[str, float]]:
    """Seconds per run of the work fit_one_cycle does around the model, each timed alone (median)."""
    norm = Normalizer.fit(data.cache.images, data.train)
    batcher = Batcher(data, norm, torch.device("cpu"), config.augment)
    model = fresh_model(data, config)
    optimizer = train_module.make_optimizer(model, config)
    lrs, moms = train_module.one_cycle_schedule(plan.steps, lr_max=config.lr)
    rows = [r for epoch in plan.epochs for r in epoch]
    losses = torch.full((plan.steps,), float("nan"))
    loss = torch.tensor(1.0)

    def cut() -> None:
        for r in rows:
            batcher.inputs(r)

    def cut_and_augment() -> None:
        generator = torch.Generator().manual_seed(0)
        for r in rows:
            batcher.train_batch(r, generator)

    def schedule() -> None:
        for step in range(plan.steps):
            for group in optimizer.param_groups:
                group["lr"] = lrs[step] * group["lr_scale"]
                group["betas"] = (moms[step], 0.99)

    def bookkeeping() -> None:
        for step in range(plan.steps):
            losses[step] = loss.detach()

    def setup() -> None:
        Normalizer.fit(data.cache.images, data.train)
        fresh_model(data, config)

    for p in model.parameters():
        p.grad = torch.randn_like(p)

    def optimizer_steps(opt: torch.optim.Optimizer) -> Callable[[], None]:
        def steps() -> None:
            for _ in range(plan.steps):
                opt.step()

        return steps

    def valid_pass() -> None:
        train_module.predict(model, batcher, data.valid)

    parts = [
        ("cut + normalise + channels_last (Batcher.inputs)", cut),
        ("... + random shift (Batcher.train_batch)", cut_and_augment),
        ("one-cycle schedule: set lr/betas of each group", schedule),
        ("loss bookkeeping (losses[step] = loss.detach())", bookkeeping),
        ("setup: Normalizer.fit + model build", setup),
        ("one validation pass, predict() (the last one is run twice)", valid_pass),
        ("AdamW steps, as fit_one_cycle builds it (fused, as bare's)", optimizer_steps(optimizer)),
    ]
    keep = ("params", "weight_decay")
    groups = [{k: v for k, v in g.items() if k in keep} for g in optimizer.param_groups]
    unfused = torch.optim.AdamW(groups, lr=config.lr, betas=(0.95, 0.99), eps=1e-5, fused=False)
    parts.append(("AdamW steps unfused (torch's default on CPU)", optimizer_steps(unfused)))
    out = []
    for name, fn in parts:
        fn()
        seconds = []
        for _ in range(repeats):
            tick = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - tick)
        out.append((name, statistics.median(seconds)))
    return out


def profile_fit(data: TrainData, config: TrainConfig, top: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fit_one_cycle(data, config=config)
    print(f"\n--- torch.profiler of one fit_one_cycle run, top {top} ops by self CPU time ---")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


# --- report -----------------------------------------------------------------------------------


def table_lines(cases: list[Case], images: int) -> list[str]:
    width = max(len(c.name) for c in cases)
    head = (
        f"{'case':<{width}}  {'train img/s':>11}  {'img/s w/ eval':>13}  {'train s':>7}  {'eval s':>6}  "
        f"{'total s':>7}  {'min total':>9}  {'valid acc':>9}  total of each round (s)"
    )
    lines = [head]
    for c in cases:
        rounds = " ".join(f"{t.total:.2f}" for t in c.timings)
        lines.append(
            f"{c.name:<{width}}  {images / c.median('train'):>11.0f}  {images / c.median():>13.0f}  "
            f"{c.median('train'):>7.2f}  {c.median('evaluation'):>6.2f}  {c.median():>7.2f}  "
            f"{c.minimum():>9.2f}  {c.timings[-1].accuracy:>9.3f}  {rounds}"
        )
    return lines


def ratio_lines(cases: dict[str, Case], pairs: list[tuple[str, str, str, str, str]]) -> list[str]:
    """(label, case a, part of a, case b, part of b): a/b of medians and of minimums."""
    width = max(len(p[0]) for p in pairs)
    lines = [f"{'':<{width}}  {'medians':>7}  {'minimums':>8}"]
    for label, a, part_a, b, part_b in pairs:
        if a in cases and b in cases:
            median = cases[a].median(part_a) / cases[b].median(part_b)
            best = cases[a].minimum(part_a) / cases[b].minimum(part_b)
            lines.append(f"{label:<{width}}  {median:6.2f}x  {best:7.2f}x")
    return lines


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder (default: digits)")
    parser.add_argument("--size", type=int, default=None, help="training size in px (default: datasize's)")
    parser.add_argument("--model", default="convnet", help="convnet (default) or resnet")
    parser.add_argument("--epochs", type=int, default=4, help="passes over the training set (default 4)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="model init, batch order and shifts")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    parser.add_argument(
        "--pil-workers", default="0,2", help="DataLoader num_workers for the PIL rows, comma-separated"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=150, help="start no new round after this long (default 150)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 autocast row")
    parser.add_argument("--no-breakdown", action="store_true", help="skip timing fit_one_cycle's parts alone")
    parser.add_argument("--profile", type=int, metavar="TOP", default=0, help="print a torch.profiler table")
    args = parser.parse_args(argv)
    if min(args.epochs, args.batch_size, args.rounds) < 1:
        parser.error("--epochs, --batch-size and --rounds must be at least 1")
    try:
        args.pil_workers = [int(w) for w in args.pil_workers.split(",") if w.strip()]
    except ValueError:
        parser.error(f"--pil-workers={args.pil_workers!r} must be comma-separated integers, e.g. 0,2")
    if not args.data.is_dir():
        parser.error(f"--data {str(args.data)!r} is not a folder")
    return args


def contenders(
    data: TrainData, config: TrainConfig, plan: Plan, args: argparse.Namespace
) -> dict[str, Callable[[], Timing]]:
    out = {
        "bare": lambda: run_bare(data, config, plan),
        "fit_one_cycle": lambda: run_fit(data, config),
    }
    if not args.no_bf16:
        out["fit_one_cycle bf16"] = lambda: run_fit(data, replace(config, precision="bf16"))
    for w in args.pil_workers:
        out[f"pil w{w}"] = lambda w=w: run_pil(data, config, plan, args.data, w)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch_line = (
        f"torch {torch.__version__} ({torch.get_num_threads()} threads, "
        f"mkldnn {torch.backends.mkldnn.is_available()})"
    )
    print("\n".join(machine_lines(torch_line)), flush=True)
    start = time.perf_counter()
    data = prepare(args.data, size=args.size).data
    config = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    plan = make_plan(data, config)
    cache = data.cache
    print(
        f"data: {args.data} ({len(data.train)} train / {len(data.valid)} valid images, {cache.channels} ch, "
        f"{cache.size} px); model {config.model}, batch {config.batch_size}, {config.epochs} epochs = "
        f"{plan.steps} steps, {plan.images} training images per run; augment {config.augment}; fp32 eager\n"
        f"setup (prepare + pre-cutting the bare loop's tensors, not timed below): "
        f"{time.perf_counter() - start:.2f} s",
        flush=True,
    )
    start = time.perf_counter()
    # First calls pay oneDNN primitive creation (per input shape), imports and worker start-up: one
    # untimed epoch of each contender, with the same batch shapes, pays them before the rounds.
    warm_config = replace(config, epochs=1)
    warm_plan = make_plan(data, warm_config)
    for run in contenders(data, warm_config, warm_plan, args).values():
        run()
    print(f"warm-up (one untimed 1-epoch run of each case): {time.perf_counter() - start:.2f} s")
    cases = [Case(name, run) for name, run in contenders(data, config, plan, args).items()]
    print(f"load average before the rounds: {load_average()}", flush=True)
    start = time.perf_counter()
    for round_ in range(args.rounds):
        shift = round_ % len(cases)
        for case in cases[shift:] + cases[:shift]:
            case.timings.append(case.run())
        elapsed = time.perf_counter() - start
        print(f"round {round_ + 1}/{args.rounds} done ({elapsed:.0f} s)", flush=True)
        if elapsed > args.max_seconds and round_ + 1 < args.rounds:
            print(f"stopping after {round_ + 1} rounds: past --max-seconds={args.max_seconds:g}")
            break
    print(f"load average after the rounds: {load_average()} (other work on the machine shows here)\n")
    print(
        "train = training loop; eval = its validation passes (each epoch) and train-error pass (at end);\n"
        "img/s counts training images only. fit_one_cycle's eval = time inside its predict() calls\n"
        "(5 validation passes and 1 training-set pass; the others make 4 and 1). Medians of the rounds."
    )
    print("\n".join(table_lines(cases, plan.images)))
    by_name = {c.name: c for c in cases}
    pairs = [
        ("fit_one_cycle / bare, both with eval (fair)", "fit_one_cycle", "total", "bare", "total"),
        ("fit_one_cycle (whole) / bare train loop only", "fit_one_cycle", "total", "bare", "train"),
        ("fit_one_cycle train part / bare train loop", "fit_one_cycle", "train", "bare", "train"),
    ]
    if not args.no_bf16:
        pairs.append(
            (
                "fit_one_cycle bf16 / fit_one_cycle fp32",
                "fit_one_cycle bf16",
                "total",
                "fit_one_cycle",
                "total",
            )
        )
    for w in args.pil_workers:
        name = f"pil w{w}"
        pairs += [
            (f"{name} / fit_one_cycle, both with eval", name, "total", "fit_one_cycle", "total"),
            (f"{name} / bare, both with eval", name, "total", "bare", "total"),
            (f"{name} / bare, train loops only", name, "train", "bare", "train"),
        ]
    print("\nratios of times (1.10x = 10% slower; overhead % = (ratio - 1) * 100):")
    print("\n".join(ratio_lines(by_name, pairs)))
    if not args.no_breakdown:
        fit, bare = by_name["fit_one_cycle"], by_name["bare"]
        difference = fit.median() - bare.median()
        print(
            f"\nwhere fit_one_cycle's time goes beyond the bare loop (each part timed alone, s per run):\n"
            f"  {'fit_one_cycle - bare, whole runs with eval (medians)':<60} {difference:7.3f}\n"
            f"  {'evaluation: fit_one_cycle predict() - bare eval (medians)':<60} "
            f"{fit.median('evaluation') - bare.median('evaluation'):7.3f}"
        )
        for name, seconds in breakdown(data, config, plan):
            print(f"  {name:<60} {seconds:7.3f}")
    if args.profile:
        profile_fit(data, config, args.profile)


if __name__ == "__main__":
    main()
