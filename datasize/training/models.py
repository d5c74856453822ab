"""Small CNNs that train well from scratch on a CPU, and pretrained backbones.

`make_model(name, in_channels=..., n_classes=...)` builds one; the API also accepts any callable
``factory(in_channels, n_classes) -> torch.nn.Module``. EfficientNet-Lite0/1/2 with ImageNet weights
that install offline (`backbones`, the ``pretrained`` extra) are built here; backbones from
torchvision or timm (``tv:resnet18``, ``timm:resnet18``) need the ``backbones`` extra, and their
libraries download weights to their caches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum

import torch
from torch import nn

from datasize.training.backbones import BACKBONES, backbone_spec, make_backbone, make_head

ModelFactory = Callable[[int, int], nn.Module]


class ModelName(StrEnum):
    """The built-in models."""

    CONVNET = "convnet"  # plain conv-BN-ReLU stages with max-pooling; the fastest
    RESNET = "resnet"  # a small ResNet: three stages of two basic residual blocks
    # ImageNet-pretrained with --pretrained (weights from the `pretrained` extra, no download)
    EFFICIENTNET_LITE0 = "efficientnet_lite0"
    EFFICIENTNET_LITE1 = "efficientnet_lite1"
    EFFICIENTNET_LITE2 = "efficientnet_lite2"


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    """conv(w) -> pool -> conv(2w) x2 -> pool -> conv(4w) x2 -> global average -> linear."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn(in_channels, width),
            nn.MaxPool2d(2),
            _conv_bn(width, 2 * width),
            _conv_bn(2 * width, 2 * width),
            nn.MaxPool2d(2),
            _conv_bn(2 * width, 4 * width),
            _conv_bn(4 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (a 1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        # Zero-init the last BN so each block starts as the identity: trains faster from scratch.
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """stem conv(w) -> blocks(w) -> blocks(2w, /2) -> blocks(4w, /2) -> global average -> linear."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 32, blocks: int = 2) -> None:
        super().__init__()
        stages: list[nn.Module] = [_conv_bn(in_channels, width)]
        c_in = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                stages.append(BasicBlock(c_in, c_out, stride=2 if stage > 0 and b == 0 else 1))
                c_in = c_out
        self.features = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def check_model_name(name: str, *, pretrained: bool = False) -> None:
    """ValueError when `name` names no model `make_model` can build (checked before any work starts;
    a backbone's architecture is checked by its library when the model is built)."""
    library, colon, arch = name.partition(":")
    if colon and library in ("tv", "timm"):
        if not arch:
            raise ValueError(
                f"model {name!r} names no architecture: write {library}:<name>, e.g. {library}:resnet18"
            )
        return
    if name not in set(ModelName):
        choices = ", ".join([*(m.value for m in ModelName), "tv:<name>", "timm:<name>"])
        raise ValueError(f"model {name!r} is unknown; choose one of {choices}")
    if pretrained and backbone_spec(name) is None:
        pretrained_ones = ", ".join(BACKBONES)
        raise ValueError(
            f"model {name!r} has no pretrained weights; use {pretrained_ones} or a tv:/timm: backbone"
        )


def make_model(
    name: str,
    *,
    in_channels: int,
    n_classes: int,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    size: int | None = None,
) -> nn.Module:
    """A model by name: `convnet`, `resnet`, `efficientnet_lite0/1/2`, or `tv:<torchvision name>` /
    `timm:<timm name>`. `weights` (a local state dict) and `size` (the input resolution) are for the
    EfficientNet-Lite backbones."""
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}: a classifier needs at least 2 classes")
    check_model_name(name, pretrained=pretrained)
    if backbone_spec(name) is not None:
        shape = {"in_channels": in_channels, "n_classes": n_classes, "size": size}
        return make_backbone(name, pretrained=pretrained, weights=weights, **shape)
    if weights is not None:
        raise ValueError(f"model {name!r} takes no weights file; --weights is for {', '.join(BACKBONES)}")
    if name.startswith(("tv:", "timm:")):
        return _backbone(name, in_channels=in_channels, n_classes=n_classes, pretrained=pretrained)
    return {ModelName.CONVNET: ConvNet, ModelName.RESNET: ResNet}[ModelName(name)](in_channels, n_classes)


def feature_head(name: str, *, features: int, n_classes: int) -> nn.Module:
    """The head a frozen-body run trains on cached features (n, features, 1, 1): the backbone's own
    linear layer, without its dropout. On the features of the digits sample (64 px) and of photo
    crops (112 px), 8 and 32 epochs, two seeds, dropout gave the same error or worse (digits 3.6-4.5%
    against 3.3-4.2%; photos 4.1-4.9% against 3.8-4.5%) and cost 2-5x the time: drawing its mask
    outweighed the whole linear step."""
    spec = backbone_spec(name)
    if spec is None:
        raise ValueError(f"a frozen body needs a backbone datasize builds: {', '.join(BACKBONES)}")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}: a classifier needs at least 2 classes")
    return make_head(features, n_classes, dropout=0.0)


def _backbone(name: str, *, in_channels: int, n_classes: int, pretrained: bool) -> nn.Module:
    """A torchvision or timm model with a new head; weights are downloaded by those libraries."""
    library, _, arch = name.partition(":")
    if library == "timm":
        try:
            import timm
        except ImportError:
            raise ValueError(
                f"model {name!r} needs timm: pip install 'datasize-toolkit[backbones]'"
            ) from None
        except Exception as exc:  # installed but broken, e.g. a torchvision built for another torch
            raise ValueError(f"model {name!r}: timm is installed but fails to import: {exc}") from None
        return timm.create_model(arch, pretrained=pretrained, num_classes=n_classes, in_chans=in_channels)
    try:
        import torchvision
    except ImportError:
        raise ValueError(
            f"model {name!r} needs torchvision: pip install 'datasize-toolkit[backbones]'"
        ) from None
    except Exception as exc:  # e.g. "operator torchvision::nms does not exist": built for another torch
        raise ValueError(
            f"model {name!r}: torchvision is installed but fails to import ({exc}); "
            "install the torchvision release made for this torch"
        ) from None
    model = torchvision.models.get_model(arch, weights="DEFAULT" if pretrained else None)
    return _replace_head(_adapt_input(model, in_channels), n_classes)


def _adapt_input(model: nn.Module, in_channels: int) -> nn.Module:
    """Grayscale input for an RGB backbone: sum the first conv's weights over its input channels."""
    if in_channels == 3:
        return model
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            new = nn.Conv2d(
                in_channels,
                module.out_channels,
                module.kernel_size,
                module.stride,
                module.padding,
                bias=module.bias is not None,
            )
            with torch.no_grad():
                new.weight.copy_(module.weight.sum(dim=1, keepdim=True).repeat(1, in_channels, 1, 1))
                if module.bias is not None:
                    new.bias.copy_(module.bias)
            parent = model.get_submodule(module_name.rpartition(".")[0]) if "." in module_name else model
            setattr(parent, module_name.rpartition(".")[2], new)
            return model
    raise ValueError("cannot find the backbone's first RGB convolution to adapt to grayscale")


# Where torchvision and timm keep the classifier: ResNet/RegNet `fc`; VGG/MobileNet/EfficientNet/
# DenseNet/ConvNeXt `classifier`; Swin and timm models `head`; torchvision's ViT `heads`.
HEAD_NAMES = ("fc", "classifier", "head", "heads")

# Normalisation layers stay trainable while the body is frozen, as fastai's `train_bn` does: their
# statistics must follow the new data. torchvision's LayerNorm2d is a LayerNorm.
NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LayerNorm,
    nn.GroupNorm,
)


def _head(model: nn.Module) -> nn.Module | None:
    for name in HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    return None


def _replace_head(model: nn.Module, n_classes: int) -> nn.Module:
    """The classifier's last Linear layer replaced by a fresh one with `n_classes` outputs."""
    head = _head(model)
    linears = [(name, m) for name, m in head.named_modules() if isinstance(m, nn.Linear)] if head else []
    if not linears:
        raise ValueError(f"cannot find the classifier head of {type(model).__name__} to replace")
    name, last = linears[-1]
    new = nn.Linear(last.in_features, n_classes)
    if not name:  # the head is the Linear itself
        setattr(model, next(n for n in HEAD_NAMES if getattr(model, n, None) is head), new)
    else:
        parent = head.get_submodule(name.rpartition(".")[0]) if "." in name else head
        setattr(parent, name.rpartition(".")[2], new)
    return model


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of the classifier head (trained alone while the body is frozen)."""
    head = _head(model)
    return list(head.parameters()) if head is not None else list(model.parameters())[-2:]


def parameter_groups(model: nn.Module, *, lr_max: float, lr_mult: float = 1.0) -> list[dict]:
    """Optimiser groups with discriminative learning rates: the body at lr_max/lr_mult, the head at lr_max.

    With lr_mult=1 this is a single group. BatchNorm and bias parameters get no weight decay.
    """
    head = {id(p) for p in head_parameters(model)}
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((id(p) in head, p.ndim <= 1), []).append(p)
    out = []
    for (is_head, no_decay), params in sorted(groups.items()):
        scale = 1.0 if is_head else 1.0 / lr_mult
        out.append({"params": params, "lr_scale": scale, "no_decay": no_decay})
    return out


def set_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) everything but the head; normalisation layers stay trainable, as fastai does."""
    head = {id(p) for p in head_parameters(model)}
    for module in model.modules():
        is_norm = isinstance(module, NORM_TYPES)
        for p in module.parameters(recurse=False):
            p.requires_grad = (not frozen) or id(p) in head or is_norm
