"""Models: built-in nets, torchvision/timm backbone adaptation, freeze / unfreeze and discriminative LRs.

torchvision and timm do not import beside the CPU torch of this machine, so the backbone tests put a
small stand-in module under their names, built like the real ones (a 3-channel first convolution,
a `fc` or `classifier` head): what they check is datasize's own glue, not the libraries.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from datasize.cli import main
from datasize.training.batches import train_data
from datasize.training.cache import build_cache
from datasize.training.loop import (
    TrainConfig,
    fit_one_cycle,
    one_cycle_schedule,
    training_schedule,
)
from datasize.training.lr_finder import range_test
from datasize.training.models import ConvNet, make_model, parameter_groups, set_frozen


class TinyTorchvisionNet(nn.Module):
    """Shaped like torchvision's ResNet: conv1 (RGB) -> bn1 -> pool -> fc."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.bn1(self.conv1(x)))).flatten(1))


class TinyClassifierNet(nn.Module):
    """Shaped like torchvision's VGG/MobileNet: features -> classifier (a Sequential ending in Linear)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class TinyVisionTransformer(nn.Module):
    """Shaped like torchvision's ViT: conv_proj (RGB) -> LayerNorm -> heads.head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(8, 1000)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.norm(self.conv_proj(x).mean(dim=(2, 3))))


@pytest.fixture
def fake_torchvision(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    calls: list[tuple[str, object]] = []
    nets = {"resnet18": TinyTorchvisionNet, "vgg11": TinyClassifierNet, "vit_b_16": TinyVisionTransformer}

    def get_model(arch: str, weights: object = None) -> nn.Module:
        calls.append((arch, weights))
        torch.manual_seed(0)
        return nets[arch]()

    monkeypatch.setitem(
        sys.modules, "torchvision", SimpleNamespace(models=SimpleNamespace(get_model=get_model))
    )
    return calls


def test_a_torchvision_backbone_gets_a_new_head_and_asks_for_weights_only_when_pretrained(
    fake_torchvision,
) -> None:
    model = make_model("tv:resnet18", in_channels=3, n_classes=5)
    assert model.fc.out_features == 5 and model.fc.in_features == 8
    make_model("tv:resnet18", in_channels=3, n_classes=5, pretrained=True)
    vgg = make_model("tv:vgg11", in_channels=3, n_classes=4)
    assert vgg.classifier[-1].out_features == 4
    assert fake_torchvision == [("resnet18", None), ("resnet18", "DEFAULT"), ("vgg11", None)]
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 5)


def test_a_vision_transformer_gets_a_new_head_and_keeps_its_layer_norm_trainable_when_frozen(
    fake_torchvision,
) -> None:
    model = make_model("tv:vit_b_16", in_channels=1, n_classes=6)
    assert model.heads.head.out_features == 6 and model.conv_proj.in_channels == 1
    set_frozen(model, True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"heads.head.weight", "heads.head.bias", "norm.weight", "norm.bias"}


def test_a_grayscale_input_sums_the_first_convolution_over_rgb(fake_torchvision) -> None:
    rgb = make_model("tv:resnet18", in_channels=3, n_classes=2)
    gray = make_model("tv:resnet18", in_channels=1, n_classes=2)  # same seed: same conv1 before adapting
    assert gray.conv1.in_channels == 1
    torch.testing.assert_close(gray.conv1.weight, rgb.conv1.weight.sum(dim=1, keepdim=True))
    # A gray image gives the first layer what the same image as RGB (three equal channels) gives it.
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(gray.conv1(x), rgb.conv1(x.repeat(1, 3, 1, 1)))


def test_a_broken_torchvision_install_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def failing(name: str, *args: object, **kwargs: object) -> object:
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(ValueError, match=r"torchvision is installed but fails to import \(operator"):
        make_model("tv:resnet18", in_channels=3, n_classes=2)


def test_a_missing_backbone_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails
    monkeypatch.setitem(sys.modules, "timm", None)
    for name, library in (("tv:resnet18", "torchvision"), ("timm:resnet18", "timm")):
        with pytest.raises(
            ValueError, match=rf"needs {library}: pip install 'datasize-toolkit\[backbones\]'"
        ):
            make_model(name, in_channels=3, n_classes=2)


def test_a_timm_backbone_is_created_with_our_classes_and_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = {}

    def create_model(arch: str, **kwargs: object) -> nn.Module:
        asked.update(arch=arch, **kwargs)
        return TinyTorchvisionNet()

    monkeypatch.setitem(sys.modules, "timm", SimpleNamespace(create_model=create_model))
    make_model("timm:convnext_atto", in_channels=1, n_classes=7, pretrained=True)
    assert asked == {"arch": "convnext_atto", "pretrained": True, "num_classes": 7, "in_chans": 1}


def test_freezing_keeps_the_head_and_batchnorm_trainable(fake_torchvision) -> None:
    model = make_model("tv:resnet18", in_channels=3, n_classes=3)
    set_frozen(model, True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias", "bn1.weight", "bn1.bias"}
    set_frozen(model, False)
    assert all(p.requires_grad for p in model.parameters())


def test_discriminative_groups_scale_the_body_and_leave_the_head_at_the_max_lr() -> None:
    model = ConvNet(1, 3, width=4)
    groups = parameter_groups(model, lr_max=1e-3, lr_mult=100)
    head = {id(p) for p in model.head.parameters()}
    for group in groups:
        in_head = {id(p) in head for p in group["params"]}
        assert len(in_head) == 1  # a group is all head or all body
        assert group["lr_scale"] == (1.0 if in_head == {True} else 0.01)
        assert group["no_decay"] == all(p.ndim <= 1 for p in group["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


# --- fine-tuning through fit_one_cycle ---------------------------------------------------------


def _snapshots(data, config: TrainConfig) -> tuple[dict, list[dict], object]:
    """Train a ConvNet, keeping its weights as built and after every epoch."""
    built: list[nn.Module] = []

    def copy() -> dict:
        return {k: v.detach().clone() for k, v in built[0].state_dict().items()}

    def factory(in_channels: int, n_classes: int) -> nn.Module:
        built.append(ConvNet(in_channels, n_classes, width=8))
        start.update(copy())
        return built[-1]

    start: dict = {}
    after: list[dict] = []
    result = fit_one_cycle(
        data, config=config, model_factory=factory, on_epoch=lambda row: after.append(copy())
    )
    return start, after, result


def test_fine_tune_trains_the_head_alone_first_then_the_whole_model(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    config = TrainConfig(epochs=2, freeze_epochs=1, lr=5e-3, batch_size=16)
    start, after, result = _snapshots(data, config)
    body, head = "features.0.0.weight", "head.weight"  # the first convolution; the classifier
    assert torch.equal(after[0][body], start[body])  # frozen epoch: the body did not move ...
    assert not torch.equal(after[0][head], start[head])  # ... the head did
    assert not torch.equal(after[0]["features.0.1.weight"], start["features.0.1.weight"])  # BatchNorm trains
    assert not torch.equal(after[1][body], after[0][body])  # unfrozen: the body moves
    assert list(result.epochs["epoch"]) == [1, 2, 3] and result.steps == 15
    # The frozen cycle peaks at lr, the unfrozen one at lr / 2 (fastai's fine_tune).
    np.testing.assert_allclose(result.lrs[:5], one_cycle_schedule(5, lr_max=5e-3, pct_start=0.99)[0])
    np.testing.assert_allclose(result.lrs[5:], one_cycle_schedule(10, lr_max=2.5e-3)[0])
    assert result.error_rate <= 0.1


def test_a_large_lr_mult_all_but_stops_the_body_while_the_head_learns(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    moved = {}
    for mult in (1.0, 1e6):
        start, after, _ = _snapshots(data, TrainConfig(epochs=1, lr=5e-3, batch_size=16, lr_mult=mult))
        moved[mult] = {
            k: float((after[-1][k] - start[k]).abs().max()) for k in ("features.0.0.weight", "head.weight")
        }
    assert moved[1e6]["features.0.0.weight"] < 1e-5 < moved[1.0]["features.0.0.weight"]
    assert moved[1e6]["head.weight"] > 1e-3


def test_the_fine_tune_schedule_gives_an_equal_step_budget_a_proportional_frozen_phase() -> None:
    lrs, _, frozen = training_schedule(TrainConfig(epochs=4, freeze_epochs=1, steps=40), per_epoch=3)
    assert (frozen, len(lrs)) == (10, 50)
    _, _, none = training_schedule(TrainConfig(epochs=4, steps=40), per_epoch=3)
    assert none == 0


def test_the_lr_range_test_of_a_fine_tune_leaves_the_frozen_body_alone(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    built: list[tuple[nn.Module, torch.Tensor]] = []

    def factory(in_channels: int, n_classes: int) -> nn.Module:
        model = ConvNet(in_channels, n_classes, width=8)
        built.append((model, model.features[0][0].weight.detach().clone()))
        return model

    lrs = np.geomspace(1e-5, 1e-1, 12)
    range_test(data, lrs, config=TrainConfig(freeze_epochs=1, batch_size=16), model_factory=factory)
    range_test(data, lrs, config=TrainConfig(batch_size=16), model_factory=factory)
    (frozen, frozen_start), (free, free_start) = built
    assert torch.equal(frozen.features[0][0].weight, frozen_start)
    assert not torch.equal(free.features[0][0].weight, free_start)


def test_train_fine_tunes_from_the_command_line(striped, tmp_path) -> None:
    root, _, _ = striped
    args = ["train", str(root), "--size", "16", "--epochs", "1", "--freeze-epochs", "1", "--lr-mult", "10"]
    result = CliRunner().invoke(main, [*args, "--batch-size", "16", "-o", str(tmp_path), "-q", "--json"])
    assert result.exit_code == 0, result.output
    assert '"freeze_epochs": 1' in result.output and '"lr_mult": 10.0' in result.output


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except Exception:  # absent, or built for another torch (RuntimeError)
        return False
    return True


REAL_BACKBONES = ["tv:resnet18", "tv:mobilenet_v3_small", "tv:convnext_tiny", "tv:vit_b_16", "timm:resnet18"]


@pytest.mark.parametrize("name", REAL_BACKBONES)
def test_real_backbones_adapt_and_freeze(name: str) -> None:
    """With the backbones extra installed (skipped otherwise): the real architectures, untrained."""
    library = "torchvision" if name.startswith("tv:") else "timm"
    if not _importable(library):
        pytest.skip(f"{library} is not installed (or not built for this torch)")
    model = make_model(name, in_channels=1, n_classes=7).eval()
    side = 224 if "vit" in name else 64
    assert model(torch.zeros(2, 1, side, side)).shape == (2, 7)
    set_frozen(model, True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in model.parameters()) / 2  # MobileNet: a large MLP head
