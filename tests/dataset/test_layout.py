"""Layouts one level off (issue #25): DATA is one class folder, or DATA wraps the class folders in one
more folder. Both are said before any image is read, with the folder to use."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from datasize.cli import main
from datasize.dataset.layout import check_layout
from datasize.dataset.manifest import list_images, scan
from tests.conftest import stripes, stripes_folders


def test_a_folder_of_images_is_one_class_folder_and_its_parent_is_named(tmp_path):
    data = stripes_folders(tmp_path / "photos", 4)
    with pytest.raises(
        ValueError, match=r"this looks like one class folder; point at its parent \(.*photos'\)"
    ):
        scan(data / "vertical", jobs=1)


def test_a_wrapper_folder_names_the_folder_one_level_down(tmp_path):
    data = stripes_folders(tmp_path / "download" / "nested" / "export", 4)
    with pytest.raises(
        ValueError, match=r"the classes are one level down: .*point at .*nested/export instead"
    ):
        scan(tmp_path / "download" / "nested", jobs=1)
    with pytest.raises(ValueError, match="classes are one level down"):
        list_images(tmp_path / "download" / "nested")
    assert len(scan(data, jobs=1)) == 8  # the folder named works


def test_the_cli_says_it_in_one_line_with_exit_2_and_no_skipped_file_flood(tmp_path):
    data = stripes_folders(tmp_path / "photos", 30)
    result = CliRunner().invoke(main, ["validate", str(data / "vertical")])
    assert result.exit_code == 2
    assert "looks like one class folder" in result.output and "skipped_file" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "layout",
    [
        ["cat/1.png", "dog/1.png"],  # one folder per class
        ["only/1.png", "only/2.png"],  # one class folder under DATA: a single_class finding, as before
        ["train/cat/1.png", "valid/cat/2.png"],  # a given split
        ["notes.png", "cat/1.png", "dog/1.png"],  # a stray image beside class folders
    ],
)
def test_ordinary_layouts_pass(tmp_path, layout):
    for i, rel in enumerate(layout):
        stripes(tmp_path / rel, vertical=bool(i % 2), seed=i)
    check_layout(tmp_path)
