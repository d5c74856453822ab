"""Every option of a curve checked before any image is read (issue #25): sizes and fractions against
the classes and images of the folder listing, repeats refused, order sorted, no --out left behind."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import datasize.dataset.manifest as manifest
from datasize.cli import main
from datasize.curves.plan import CurveConfig
from tests.conftest import stripes_folders


@pytest.fixture
def data(tmp_path, monkeypatch):
    root = stripes_folders(tmp_path / "photos", 20)  # 40 images, 2 classes: about 32 to train on

    def no_reading(*args, **kwargs):
        raise AssertionError("an image was read before the options were checked")

    monkeypatch.setattr(manifest, "_probe_all", no_reading)
    return root


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fractions", "0.001,1"], "the smallest fraction, 0.001 of about 32 training images, is 1 image"),
        (["--sizes", "50000"], "sizes [50000] exceed the about 32 training images"),
        (["--sizes", "1,8,16"], "the smallest size, 1, cannot hold one image of each of the 2 classes"),
        (["--fractions", "0.5,0.25,0.5,1"], "fractions lists 0.5 more than once"),
        (["--sizes", "8,8,16"], "sizes lists 8 more than once"),
    ],
)
def test_a_plan_that_cannot_run_is_refused_before_any_image_is_read_and_leaves_no_folder(
    data, tmp_path, options, message
):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["curve", str(data), "--out", str(out), *options])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_fractions_in_any_order_are_taken_in_increasing_order():
    assert CurveConfig(fractions=(1.0, 0.25, 0.5)).fractions == (0.25, 0.5, 1.0)
