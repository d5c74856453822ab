"""The model file: weights, config, classes and preprocessing in one file, written and read here only.

`torch.load(weights_only=True)` reads it, so no code in a model file is ever run.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from datasize.io import write_bytes_atomic
from datasize.training.backbones import backbone_spec, make_body
from datasize.training.batches import Augment, Normalizer
from datasize.training.cache import ImageCache
from datasize.training.features import INIT_SEED, FeatureCache
from datasize.training.loop import TrainResult
from datasize.training.models import ModelFactory, make_model

MODEL_FORMAT = "datasize-model-1"


def save_model(result: TrainResult, path: str | os.PathLike, *, cache: ImageCache) -> None:
    """Weights, config, classes and preprocessing in one file that `torch.load(weights_only=True)` reads.

    A frozen-body run's head is saved inside its whole backbone, so the file classifies images like
    any other: the body with the weights the features were computed with, the features' scaling
    folded into the head's linear layer (`with_body`).
    """
    model, config, norm, channels = result.model, result.config, result.norm, cache.channels
    if isinstance(cache, FeatureCache):
        model = with_body(result, cache)
        config = replace(config, frozen=False, augment=Augment.NONE)
        spec = backbone_spec(config.model)
        norm, channels = Normalizer(spec.mean, spec.std), cache.image_channels
    state = {
        "format": MODEL_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config.to_dict(),
        "classes": list(result.classes),
        "mean": list(norm.mean),
        "std": list(norm.std),
        "size": cache.size,
        "resize": str(cache.resize),
        "channels": channels,
        # which class the weights belong to: a model_factory's is refused without that factory
        "architecture": _architecture(model),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_model(
    path: str | os.PathLike, *, model_factory: ModelFactory | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """A model saved by `save_model` (weights only: no code in the file is ever run), and its metadata.

    A model trained with your own `model_factory` needs the same factory here to be rebuilt
    (``factory(in_channels, n_classes)``); the file holds its weights, not its code.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{str(path)!r} is not a datasize model file: {first}") from None
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise ValueError(f"{str(path)!r} is not a datasize model file")
    config = state["config"]
    channels, n_classes = state["channels"], len(state["classes"])
    if model_factory is not None:
        model = model_factory(channels, n_classes)
    else:
        model = make_model(config["model"], in_channels=channels, n_classes=n_classes, size=state.get("size"))
    saved = state.get("architecture")  # files written before it was recorded have none
    if saved is not None and saved != _architecture(model):
        raise ValueError(
            f"{str(path)!r} holds a {saved} model, not {_architecture(model)}: a model trained with "
            "your own model_factory loads with load_model(path, model_factory=the same factory)"
        )
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        built = "your model_factory's model" if model_factory else f"the built-in {config['model']!r}"
        raise ValueError(
            f"{str(path)!r} holds weights that do not fit {built}: a model trained with your own "
            "model_factory loads with load_model(path, model_factory=the same factory)"
            f" ({str(exc).strip().splitlines()[0]})"
        ) from None
    return model.eval(), {k: v for k, v in state.items() if k != "state_dict"}


def with_body(result: TrainResult, cache: FeatureCache) -> nn.Module:
    """A frozen-body run's head in its whole backbone: images in, the run's predictions out.

    The head saw features scaled by one mean m and std s (`Normalizer.pooled`); W((f - m)/s) + b is
    (W/s)f + (b - (m/s) W 1), so the scaling goes into the linear layer and the body feeds it directly.
    """
    backbone = cache.backbone
    model = make_model(
        backbone.name,
        in_channels=cache.image_channels,
        n_classes=len(result.classes),
        pretrained=backbone.pretrained,
        weights=backbone.weights,
        size=cache.size,
    )
    if not backbone.loads_weights:  # the body the features came from was drawn from this seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            model.body.load_state_dict(make_body(backbone.name, size=cache.size).state_dict())
    trained = [m for m in result.model.modules() if isinstance(m, nn.Linear)][-1]
    linear = [m for m in model.head.modules() if isinstance(m, nn.Linear)][-1]
    mean, std = result.norm.mean[0], result.norm.std[0]
    with torch.no_grad():
        linear.weight.copy_(trained.weight / std)
        linear.bias.copy_(trained.bias - trained.weight.sum(1) * mean / std)
    return model.eval()


def _architecture(model: nn.Module) -> str:
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"
