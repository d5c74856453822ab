"""The training engine: decode-once cache, one-cycle schedule, seeded and correct training runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from datasize.training import cache as cache_module
from datasize.training.batches import random_shift, train_data
from datasize.training.cache import Resize, build_cache, default_size, fit_square, to_uint8
from datasize.training.loop import TrainConfig, fit_one_cycle, one_cycle_schedule, predict
from datasize.training.model_file import load_model, save_model


def small_config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "lr": 5e-3, "batch_size": 16, **kw})


# --- the schedule -----------------------------------------------------------------------------


def test_one_cycle_warms_up_from_lr_over_div_to_lr_max_then_anneals_to_lr_over_div_final() -> None:
    lrs, moms = one_cycle_schedule(101, lr_max=1e-2, pct_start=0.25)
    assert lrs[0] == pytest.approx(1e-2 / 25)
    assert lrs[25] == pytest.approx(1e-2) and lrs.argmax() == 25
    assert lrs[-1] == pytest.approx(1e-2 / 1e5)
    assert (np.diff(lrs[:26]) > 0).all() and (np.diff(lrs[25:]) < 0).all()
    assert (moms[0], moms[25], moms[-1]) == pytest.approx((0.95, 0.85, 0.95))


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_one_cycle_survives_runs_of_a_few_steps(steps: int) -> None:
    lrs, moms = one_cycle_schedule(steps, lr_max=1.0)
    assert len(lrs) == len(moms) == steps
    assert np.isfinite(lrs).all() and lrs.max() <= 1.0


def test_bad_training_settings_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"lr=-1 must be a positive number"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match=r"pct_start=1.5"):
        TrainConfig(pct_start=1.5)
    with pytest.raises(ValueError, match=r"augment"):
        TrainConfig(augment="rotate")


# --- the cache --------------------------------------------------------------------------------


def test_every_image_is_decoded_once_into_one_uint8_tensor(striped, monkeypatch) -> None:
    root, manifest, _ = striped
    calls: list[str] = []
    original = cache_module.decode
    monkeypatch.setattr(cache_module, "decode", lambda rel, spec: calls.append(rel) or original(rel, spec))
    cache = build_cache(manifest, root=root, size=16, jobs=1)
    assert cache.images.dtype == np.uint8 and cache.images.shape == (96, 1, 16, 16)
    assert sorted(calls) == sorted(manifest["path"]) and cache.decoded == 96


def test_a_cache_folder_is_reused_by_a_later_command(striped, tmp_path) -> None:
    root, manifest, _ = striped
    first = build_cache(manifest, root=root, size=12, cache_dir=tmp_path, jobs=1)
    again = build_cache(manifest, root=root, size=12, cache_dir=tmp_path, jobs=1)
    assert (first.decoded, again.decoded) == (96, 0)
    assert np.array_equal(np.asarray(first.images), np.asarray(again.images))
    assert build_cache(manifest, root=root, size=10, cache_dir=tmp_path, jobs=1).decoded == 96


def test_a_cache_file_without_its_completion_marker_is_not_trusted(striped, tmp_path) -> None:
    root, manifest, _ = striped
    cache = build_cache(manifest, root=root, size=12, cache_dir=tmp_path, jobs=1)
    (tmp_path / f"{cache.key}.done").unlink()
    assert build_cache(manifest, root=root, size=12, cache_dir=tmp_path, jobs=1).decoded == 96


def test_unreadable_rows_are_left_out_of_the_cache(striped) -> None:
    root, manifest, _ = striped
    broken = manifest.copy()
    broken.loc[0, "error"] = "truncated"
    assert len(build_cache(broken, root=root, size=8, jobs=1).paths) == 95


def test_resize_methods_squish_crop_and_pad() -> None:
    wide = Image.new("L", (40, 20), 200)
    assert fit_square(wide, 10, Resize.SQUISH).size == (10, 10)
    cropped = np.asarray(fit_square(wide, 10, Resize.CROP))
    padded = np.asarray(fit_square(wide, 10, Resize.PAD))
    assert cropped.min() == 200
    assert padded[0].max() == 0 and padded[5].min() == 200  # black bars above and below


def test_sixteen_bit_alpha_and_exif_rotation_are_normalised() -> None:
    sixteen = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert np.asarray(to_uint8(sixteen, 1)).min() == 255
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(to_uint8(clear, 3)).min() == 255  # transparent over white
    rotated = Image.new("L", (6, 2))
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rotated.info["exif"] = exif.tobytes()
    rotated = Image.open(_saved(rotated, exif))
    assert to_uint8(rotated, 1).size == (2, 6)


def _saved(image: Image.Image, exif) -> object:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    buffer.seek(0)
    return buffer


def test_default_size_follows_the_data_within_16_to_64(striped) -> None:
    _, manifest, _ = striped
    assert default_size(manifest) == 16
    assert default_size(manifest.assign(width=1000, height=800)) == 64


# --- training ---------------------------------------------------------------------------------


def test_training_learns_an_easy_problem(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    result = fit_one_cycle(data, config=small_config(epochs=4))
    assert list(result.epochs.columns) == [
        "epoch",
        "train_loss",
        "valid_loss",
        "error_rate",
        "accuracy",
        "time",
    ]
    assert list(result.epochs["epoch"]) == [1, 2, 3, 4]
    assert result.error_rate <= 0.1
    assert result.epochs["train_loss"].iloc[-1] < result.epochs["train_loss"].iloc[0]
    assert (result.epochs["error_rate"] + result.epochs["accuracy"]).round(9).eq(1).all()
    assert result.steps == 4 * 5 and len(result.batch_losses) == 20
    assert set(result.per_class["label"]) == {"horizontal", "vertical"}


def test_the_same_seed_gives_identical_metrics(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    a = fit_one_cycle(data, config=small_config(seed=3)).epochs.drop(columns="time")
    b = fit_one_cycle(data, config=small_config(seed=3)).epochs.drop(columns="time")
    c = fit_one_cycle(data, config=small_config(seed=4)).epochs.drop(columns="time")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_training_does_not_touch_the_global_random_state(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_one_cycle(data, config=small_config(epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_a_budget_in_steps_overrides_epochs(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    result = fit_one_cycle(data, config=small_config(steps=7, batch_size=32))
    assert result.steps == 7
    assert list(result.epochs["epoch"]) == [1, 2, 3]  # 72 images in batches of 32: 3 steps a pass


def test_a_tiny_subset_trains_without_a_one_image_batch(striped) -> None:
    root, manifest, split = striped
    cache = build_cache(manifest, root=root, size=16, jobs=1)
    train = split[split["split"] == "train"].assign(label=manifest["label"])
    keep = train.groupby("label").head(5).index[:9]
    tiny = split.assign(
        split=np.where(split.index.isin(keep) | (split["split"] == "valid"), split["split"], "")
    )
    result = fit_one_cycle(train_data(cache, tiny), config=small_config(batch_size=8, epochs=2))
    assert result.n_train == 9 and result.steps == 4


def test_a_huge_learning_rate_diverges_and_stops(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    result = fit_one_cycle(data, config=small_config(lr=1e6, epochs=4))
    assert result.diverged
    assert len(result.epochs) < 4


def test_validation_labels_missing_from_training_are_an_error(striped) -> None:
    root, manifest, split = striped
    cache = build_cache(manifest, root=root, size=8, jobs=1)
    only_one = split.assign(split=np.where(manifest["label"] == "vertical", "valid", split["split"]))
    with pytest.raises(ValueError, match=r"at least 2 are needed|have no training images"):
        train_data(cache, only_one)


def test_a_saved_model_loads_with_weights_only_and_predicts_the_same(striped, tmp_path) -> None:
    root, manifest, split = striped
    cache = build_cache(manifest, root=root, size=16, jobs=1)
    data = train_data(cache, split)
    result = fit_one_cycle(data, config=small_config(epochs=1))
    save_model(result, tmp_path / "model.pt", cache=cache)
    model, meta = load_model(tmp_path / "model.pt")
    assert meta["classes"] == ["horizontal", "vertical"] and meta["size"] == 16
    from datasize.training.batches import Batcher

    batcher = Batcher(data, result.norm, torch.device("cpu"), result.config.augment)
    assert torch.allclose(predict(model, batcher, data.valid), predict(result.model, batcher, data.valid))


def test_random_shift_moves_content_but_keeps_shape() -> None:
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 3, 3] = 1.0
    shifted = random_shift(x, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    assert shifted.sum() <= 2.0


# --- the LR finder and the commands ---------------------------------------------------------------


def test_the_lr_finder_suggests_a_rate_and_does_not_perturb_the_next_run(striped) -> None:
    from datasize.training.lr_finder import lr_find

    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    config = small_config(epochs=1, seed=5)
    before = fit_one_cycle(data, config=config).epochs.drop(columns="time")
    finder = lr_find(data, config=config, num_it=40)
    after = fit_one_cycle(data, config=config).epochs.drop(columns="time")
    pd.testing.assert_frame_equal(before, after)
    assert 1e-7 <= finder.suggestion.chosen <= 10
    assert list(finder.curve.columns) == ["step", "lr", "loss", "smoothed"]
    assert (np.diff(finder.curve["lr"]) > 0).all()


def test_train_command_decodes_each_image_once_and_writes_its_files(striped, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from datasize.cli import main

    root, manifest, _ = striped
    calls: list[str] = []
    original = cache_module.decode
    monkeypatch.setattr(cache_module, "decode", lambda rel, spec: calls.append(rel) or original(rel, spec))
    out = tmp_path / "run"
    args = ["train", str(root), "--lr", "auto", "--epochs", "2", "--batch-size", "16", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--save", str(tmp_path / "m.pt"), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(calls) == sorted(manifest["path"])  # the finder and the run share one decode
    assert "epoch  train_loss  valid_loss  error_rate  accuracy  time" in result.output
    assert "diagnosis:" in result.output
    for name in (
        "train.json",
        "epochs.csv",
        "confusion.csv",
        "top_losses.csv",
        "top_losses.png",
        "lr_find.png",
    ):
        assert (out / name).is_file(), name
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["classes"] == ["horizontal", "vertical"]


def test_lr_find_command_writes_the_curve_and_plot(striped, tmp_path) -> None:
    from click.testing import CliRunner

    from datasize.cli import main

    root, _, _ = striped
    result = CliRunner().invoke(
        main, ["lr-find", str(root), "--num-it", "30", "--out", str(tmp_path), "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "suggested learning rate (valley):" in result.output
    assert {"lr_find.csv", "lr_find.json", "lr_find.png"} <= {p.name for p in tmp_path.iterdir()}


def test_a_bad_lr_is_a_usage_error(striped) -> None:
    from click.testing import CliRunner

    from datasize.cli import main

    result = CliRunner().invoke(main, ["train", str(striped[0]), "--lr", "fast"])
    assert result.exit_code == 2 and "neither a number nor 'auto'" in result.output


def test_bfloat16_autocast_trains_as_well_and_stays_seeded(striped) -> None:
    root, manifest, split = striped
    data = train_data(build_cache(manifest, root=root, size=16, jobs=1), split)
    fp32 = fit_one_cycle(data, config=small_config(epochs=4))
    bf16 = fit_one_cycle(data, config=small_config(epochs=4, precision="bf16"))
    again = fit_one_cycle(data, config=small_config(epochs=4, precision="bf16"))
    pd.testing.assert_frame_equal(bf16.epochs.drop(columns="time"), again.epochs.drop(columns="time"))
    assert bf16.error_rate <= 0.1 and abs(bf16.error_rate - fp32.error_rate) <= 1 / 24
    # The losses are close, not equal: the forward passes really ran in bfloat16.
    assert not np.array_equal(bf16.batch_losses, fp32.batch_losses)
    np.testing.assert_allclose(bf16.batch_losses, fp32.batch_losses, rtol=0.2, atol=0.05)
    assert bf16.model.head.weight.dtype == torch.float32  # weights stay fp32
    with pytest.raises(ValueError, match="precision='fp16' is not one of fp32, bf16, auto"):
        TrainConfig(precision="fp16")


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_is_bf16_only_where_the_device_has_it_and_records_what_ran(
    native, expected, monkeypatch
) -> None:
    import datasize.training.loop as train_module

    asked = []
    monkeypatch.setattr(train_module, "native_bf16", lambda device: asked.append(device) or native)
    config = TrainConfig(precision="auto", device="cpu")
    assert asked == ["cpu"]
    assert config.precision == expected and config.to_dict()["precision"] == expected
    assert TrainConfig(precision="fp32").precision == "fp32" and len(asked) == 1  # asked only for auto


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"), [(False, False, False), (True, False, True), (False, True, True)]
)
def test_an_x86_cpu_has_native_bf16_only_with_avx512_bf16_or_amx(
    avx512_bf16, amx, expected, monkeypatch
) -> None:
    import platform

    from datasize.training.batches import native_bf16

    # oneDNN's own query says yes for any AVX-512 CPU, where bf16 is emulated: it must not decide.
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert native_bf16("cpu") is expected


def test_native_bf16_is_false_for_a_device_that_is_not_there() -> None:
    from datasize.training.batches import native_bf16

    if not torch.cuda.is_available():
        assert native_bf16("cuda") is False
    assert native_bf16("not-a-device") is False
    assert isinstance(native_bf16("cpu"), bool)


def test_a_cache_too_large_for_memory_goes_to_a_memory_mapped_file(striped, tmp_path, monkeypatch) -> None:
    root, manifest, _ = striped
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    in_memory = build_cache(manifest, root=root, size=16, jobs=1)
    monkeypatch.setattr(cache_module, "available_memory", lambda: 2 * in_memory.images.nbytes - 1)
    mapped = build_cache(manifest, root=root, size=16, jobs=1)
    assert not isinstance(in_memory.images, np.memmap) and isinstance(mapped.images, np.memmap)
    assert [p.suffix for p in sorted((tmp_path / "datasize").iterdir())] == [".done", ".npy"]
    np.testing.assert_array_equal(mapped.images, in_memory.images)


def test_normalisation_statistics_do_not_depend_on_the_chunk_size(striped) -> None:
    from datasize.training.batches import Normalizer

    root, manifest, _ = striped
    images = build_cache(manifest, root=root, size=16, jobs=1).images
    rows = np.arange(len(images))
    whole, chunked = Normalizer.fit(images, rows), Normalizer.fit(images, rows, chunk_bytes=3 * 16 * 16 * 8)
    np.testing.assert_allclose(whole.mean, chunked.mean)
    np.testing.assert_allclose(whole.std, chunked.std)
    expected = images.astype(np.float64)
    np.testing.assert_allclose(whole.mean, [expected.mean()])
    np.testing.assert_allclose(whole.std, [expected.std()], rtol=1e-6)


@pytest.mark.parametrize(("n_epochs", "max_evals"), [(4, 8), (8, 8), (46, 8), (92, 16), (9, 8)])
def test_validation_passes_are_evenly_spread_capped_and_include_the_last_epoch(n_epochs, max_evals) -> None:
    from datasize.training.loop import _eval_epochs

    epochs = sorted(_eval_epochs(n_epochs, max_evals))
    assert epochs[-1] == n_epochs and len(epochs) == min(n_epochs, max_evals)
    assert epochs[0] >= 1 and len(set(epochs)) == len(epochs)
    gaps = np.diff([0, *epochs])
    assert gaps.max() - gaps.min() <= 1  # evenly spaced, to the epoch


def test_the_cli_takes_auto_precision_and_records_the_one_that_ran(striped, tmp_path) -> None:
    from click.testing import CliRunner

    from datasize.cli import main
    from datasize.training.batches import native_bf16

    out = tmp_path / "run"
    args = ["train", str(striped[0]), "--precision", "auto", "--epochs", "1", "--size", "16", "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "-q"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "train.json").read_text())["config"]["precision"]
    assert recorded == ("bf16" if native_bf16("auto") else "fp32")
