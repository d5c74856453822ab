"""The LR range test, run: a fresh model trained one step at each learning rate of an exponential sweep.

The curve it leaves is read in `lr_curve` (smoothing, divergence, the suggestions); this module runs
the test with torch, as `fit_one_cycle` would build and train the model, and leaves the run that
follows exactly as it would have been without it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from datasize.training.batches import TrainData, pick_device, shuffled_batches
from datasize.training.loop import (
    TrainConfig,
    build_model,
    make_batcher,
    make_optimizer,
    steps_per_epoch,
    train_step,
)
from datasize.training.lr_curve import (
    DEFAULT_END_LR,
    DEFAULT_NUM_IT,
    DEFAULT_START_LR,
    LRSuggestion,
    SuggestMethod,
    lr_schedule,
    should_stop,
    smooth_losses,
    suggest,
    suggest_method,
)
from datasize.training.models import ModelFactory, set_frozen


@dataclass(frozen=True)
class LRFinderResult:
    """The range test's curve and what it suggests."""

    curve: pd.DataFrame  # step, lr, loss (raw), smoothed
    suggestion: LRSuggestion
    num_it: int  # steps planned (the curve is shorter when the loss diverged)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the suggestion and the curve as lists (non-finite losses become null)."""
        curve = {
            column: [None if not math.isfinite(v) else float(v) for v in self.curve[column]]
            for column in ("lr", "loss", "smoothed")
        }
        return {
            "suggestion": self.suggestion.to_dict(),
            "num_it": self.num_it,
            "seconds": self.seconds,
            "curve": curve,
        }


def lr_find(
    data: TrainData,
    *,
    config: TrainConfig | None = None,
    start_lr: float = DEFAULT_START_LR,
    end_lr: float = DEFAULT_END_LR,
    num_it: int = DEFAULT_NUM_IT,
    method: SuggestMethod | str = SuggestMethod.VALLEY,
    model_factory: ModelFactory | None = None,
) -> LRFinderResult:
    """Run the LR range test on a fresh model and suggest a learning rate.

    Args:
        data: from `train_data`.
        config: a `TrainConfig` (model, batch size, weight decay, seed); its lr is ignored.
        start_lr, end_lr, num_it: the exponential sweep (fastai's defaults: 1e-7 to 10 in 100 steps).
        method: which suggestion `chosen` returns: valley (default), steep or minimum.
        model_factory: as for `fit_one_cycle`.

    The model, optimiser and random state used here are thrown away or restored, so the run that
    follows is exactly the run it would have been without the test.
    """
    method = suggest_method(method)
    lrs = lr_schedule(start_lr=start_lr, end_lr=end_lr, num_it=num_it)
    start = time.perf_counter()
    raw = range_test(
        data,
        lrs,
        config=config or TrainConfig(),
        model_factory=model_factory,
        should_stop=lambda losses: should_stop(smooth_losses(losses)),
    )
    lrs = lrs[: len(raw)]
    curve = pd.DataFrame(
        {"step": np.arange(len(raw)), "lr": lrs, "loss": raw, "smoothed": smooth_losses(raw)}
    )
    suggestion = suggest(lrs, raw, num_it=num_it, method=method)
    return LRFinderResult(
        curve=curve, suggestion=suggestion, num_it=num_it, seconds=time.perf_counter() - start
    )


def range_test(
    data: TrainData,
    lrs: np.ndarray,
    *,
    config: TrainConfig | None = None,
    model_factory: ModelFactory | None = None,
    should_stop: Callable[[np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Raw training loss of one step at each learning rate in `lrs`, on a fresh model (the LR range test).

    The model is built from `config.seed` exactly as `fit_one_cycle` builds it, and the global random
    state is forked and restored, so running the test never changes the run that follows. Batches cycle
    through the training set as many times as needed. `should_stop(losses_so_far)` may end the sweep
    early (divergence); the returned array is then shorter than `lrs`.
    """
    config = config or TrainConfig()
    device = pick_device(config.device)
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(config.seed)
        model = build_model(data, config, model_factory, device)
        if config.freeze_epochs:  # the LR of a fine-tune is the frozen phase's: test that model
            set_frozen(model, True)
        batcher = make_batcher(data, config, device)
        optimizer = make_optimizer(model, config)
        generator = torch.Generator().manual_seed(config.seed)
        per_epoch = steps_per_epoch(len(data.train), config.batch_size)
        losses: list[float] = []
        model.train()
        while len(losses) < len(lrs):
            for batch in shuffled_batches(data.train, per_epoch, generator):
                if len(losses) >= len(lrs):
                    break
                for group in optimizer.param_groups:
                    group["lr"] = float(lrs[len(losses)]) * group["lr_scale"]
                # .item(): the stop rule needs each value as it comes
                losses.append(train_step(model, optimizer, batcher, batch, generator).item())
                if should_stop is not None and should_stop(np.asarray(losses)):
                    return np.asarray(losses)
    return np.asarray(losses)
