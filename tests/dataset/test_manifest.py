"""scan(): the manifest from folder trees, label CSVs and file names."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from datasize.dataset.manifest import (
    MANIFEST_COLUMNS,
    label_from_name,
    read_manifest,
    safe_relative_path,
    scan,
)


def test_folder_tree_gives_one_row_per_image_with_labels_from_folder_names(folder_dataset: Path) -> None:
    manifest = scan(folder_dataset, jobs=1)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert len(manifest) == 36
    assert manifest["label"].value_counts().to_dict() == {"cat": 12, "dog": 12, "fox": 12}
    assert manifest["path"].iloc[0] == "cat/00.png"
    assert (manifest["error"] == "").all()
    assert set(manifest["width"]) == {32} and set(manifest["mode"]) == {"RGB"}
    assert manifest["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert manifest["phash"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert manifest["thumb"].str.fullmatch(r"[0-9a-f]{512}").all()


def test_manifest_is_sorted_by_path_and_the_same_in_parallel_and_in_process(folder_dataset: Path) -> None:
    serial = scan(folder_dataset, jobs=1)
    parallel = scan(folder_dataset, jobs=2)
    assert list(serial["path"]) == sorted(serial["path"])
    pd.testing.assert_frame_equal(serial, parallel)


def test_parallel_probing_reports_progress_up_to_the_total(tmp_path: Path, make_image) -> None:
    for i in range(140):
        make_image(tmp_path / "data" / f"c{i % 2}" / f"{i:03d}.png", seed=i, size=(8, 8))
    seen: list[tuple[int, int]] = []
    manifest = scan(tmp_path / "data", jobs=2, progress=lambda done, total: seen.append((done, total)))
    assert len(manifest) == 140
    assert seen[-1] == (140, 140)


def test_top_level_train_and_valid_folders_are_kept_as_a_given_split(tmp_path: Path, make_image) -> None:
    make_image(tmp_path / "train" / "cat" / "a.png", seed=1)
    make_image(tmp_path / "val" / "cat" / "b.png", seed=2)
    manifest = scan(tmp_path)
    assert dict(zip(manifest["path"], manifest["split"], strict=True)) == {
        "train/cat/a.png": "train",
        "val/cat/b.png": "valid",
    }
    assert set(manifest["label"]) == {"cat"}


def test_a_class_named_train_without_a_valid_folder_is_just_a_class(tmp_path: Path, make_image) -> None:
    make_image(tmp_path / "train" / "a.png", seed=1)
    make_image(tmp_path / "dog" / "b.png", seed=2)
    manifest = scan(tmp_path)
    assert set(manifest["label"]) == {"train", "dog"}
    assert set(manifest["split"]) == {""}


def test_images_in_the_root_and_non_images_are_skipped_with_a_reason(
    folder_dataset: Path, make_image
) -> None:
    make_image(folder_dataset / "stray.png", seed=5)
    (folder_dataset / "cat" / "notes.txt").write_text("hello")
    (folder_dataset / "cat" / ".DS_Store").write_bytes(b"\0\0")
    (folder_dataset / "dog" / "Thumbs.db").write_bytes(b"\0\0")
    manifest = scan(folder_dataset)
    reasons = {s["path"]: s["reason"] for s in manifest.attrs["skipped"]}
    assert reasons == {
        "stray.png": "not inside a class folder",
        "cat/notes.txt": "not an image file extension",
        "cat/.DS_Store": "hidden file",
        "dog/Thumbs.db": "operating-system file",
    }
    assert len(manifest) == 36


def test_an_image_under_a_non_image_extension_is_probed_not_skipped(folder_dataset: Path, make_image) -> None:
    make_image(folder_dataset / "cat" / "photo.txt", seed=7, fmt="PNG")
    manifest = scan(folder_dataset)
    row = manifest[manifest["path"] == "cat/photo.txt"].iloc[0]
    assert row["format"] == "PNG"


def test_empty_class_folders_are_listed(folder_dataset: Path) -> None:
    (folder_dataset / "wolf").mkdir()
    assert scan(folder_dataset).attrs["empty_classes"] == ["wolf"]


def test_odd_but_valid_file_names_are_read(tmp_path: Path, make_image) -> None:
    names = ["with space.png", "ünïcødé.png", "-leading-dash.png", "semi;colon.png", "quote'd.png"]
    for i, name in enumerate(names):
        make_image(tmp_path / "cat" / name, seed=i)
    manifest = scan(tmp_path)
    assert sorted(manifest["path"]) == sorted(f"cat/{n}" for n in names)
    assert (manifest["error"] == "").all()


def test_labels_csv_gives_labels_groups_and_split(tmp_path: Path, make_image) -> None:
    for i in range(4):
        make_image(tmp_path / "img" / f"{i}.png", seed=i)
    (tmp_path / "labels.csv").write_text(
        "file,cls,patient,part\nimg/0.png,cat,p1,train\nimg/1.png,dog,p1,train\n"
        "img/2.png, cat ,p2,valid\nimg/3.png,dog,p2,val\n"
    )
    manifest = scan(
        tmp_path,
        labels=tmp_path / "labels.csv",
        path_col="file",
        label_col="cls",
        group_col="patient",
        split_col="part",
    )
    assert manifest[["path", "label", "group", "split"]].to_dict("records") == [
        {"path": "img/0.png", "label": "cat", "group": "p1", "split": "train"},
        {"path": "img/1.png", "label": "dog", "group": "p1", "split": "train"},
        {"path": "img/2.png", "label": "cat", "group": "p2", "split": "valid"},
        {"path": "img/3.png", "label": "dog", "group": "p2", "split": "valid"},
    ]


def test_labels_csv_missing_column_names_the_columns(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("file,cls\na.png,cat\n")
    with pytest.raises(ValueError, match=r"has no column 'path'.*its columns are 'file', 'cls'"):
        scan(tmp_path, labels=tmp_path / "labels.csv")


def test_labels_csv_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_bytes("path,label\na.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        scan(tmp_path, labels=tmp_path / "labels.csv")


def test_labels_csv_paths_cannot_escape_the_root(tmp_path: Path, make_image) -> None:
    make_image(tmp_path / "inside" / "a.png", seed=1)
    make_image(tmp_path / "outside.png", seed=2)
    (tmp_path / "inside" / "labels.csv").write_text(
        f"path,label\na.png,cat\n../outside.png,dog\n{tmp_path / 'outside.png'},dog\n"
    )
    manifest = scan(tmp_path / "inside", labels=tmp_path / "inside" / "labels.csv")
    assert list(manifest["path"]) == ["a.png"]
    refused = [s for s in manifest.attrs["skipped"] if "must stay inside" in s["reason"]]
    assert len(refused) == 2


def test_csv_rows_for_missing_files_are_unreadable_rows(tmp_path: Path, make_image) -> None:
    make_image(tmp_path / "a.png", seed=1)
    (tmp_path / "labels.csv").write_text("path,label\na.png,cat\nmissing.png,cat\n")
    manifest = scan(tmp_path, labels=tmp_path / "labels.csv")
    row = manifest.set_index("path").loc["missing.png"]
    assert row["error_check"] == "unreadable"
    assert "No such file" in row["error"]


def test_files_not_listed_in_the_csv_are_skipped_with_a_reason(tmp_path: Path, make_image) -> None:
    make_image(tmp_path / "a.png", seed=1)
    make_image(tmp_path / "b.png", seed=2)
    (tmp_path / "labels.csv").write_text("path,label\na.png,cat\n")
    manifest = scan(tmp_path, labels=tmp_path / "labels.csv")
    assert {"path": "b.png", "reason": "not listed in labels.csv"} in manifest.attrs["skipped"]


def test_label_regex_reads_labels_from_file_names_like_the_pets_layout(tmp_path: Path, make_image) -> None:
    for i, name in enumerate(["great_pyrenees_12.jpg", "Abyssinian_3.jpg", "beagle_7.jpg", "README.jpg"]):
        make_image(tmp_path / "images" / name, seed=i)
    manifest = scan(tmp_path, label_re=r"^(.+)_\d+\.jpg$")
    assert dict(zip(manifest["path"], manifest["label"], strict=True)) == {
        "images/Abyssinian_3.jpg": "Abyssinian",
        "images/beagle_7.jpg": "beagle",
        "images/great_pyrenees_12.jpg": "great_pyrenees",
    }
    assert manifest.attrs["skipped"][0]["path"] == "images/README.jpg"


def test_label_from_name_prefers_the_named_group() -> None:
    pattern = re.compile(r"^(\d+)-(?P<label>[a-z]+)\.png$")
    assert label_from_name("12-cat.png", pattern) == "cat"
    assert label_from_name("cat.png", pattern) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_re": "(unclosed"}, "not a valid regular expression"),
        ({"label_re": "no_group"}, "has no group"),
        ({"jobs": 0}, "jobs=0 must be at least 1"),
        ({"max_pixels": 0}, "max_pixels=0 must be positive"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_value(
    folder_dataset: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        scan(folder_dataset, **kwargs)


def test_a_missing_dataset_folder_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan(tmp_path / "nope")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a/b.png", "a/b.png"), ("./a//b.png", "a/b.png"), ("a\\b.png", "a/b.png"), (" a.png ", "a.png")],
)
def test_safe_relative_path_normalises_harmless_paths(tmp_path: Path, raw: str, expected: str) -> None:
    assert safe_relative_path(raw, tmp_path) == expected


def test_a_manifest_without_thumbnails_asks_for_a_new_scan(folder_dataset: Path, tmp_path: Path) -> None:
    scan(folder_dataset).drop(columns="thumb").to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(ValueError, match=r"older datasize: it has no thumb column.*scan the dataset again"):
        read_manifest(tmp_path / "old.csv")


def test_manifest_round_trips_through_csv(folder_dataset: Path, tmp_path: Path) -> None:
    manifest = scan(folder_dataset)
    manifest.to_csv(tmp_path / "m.csv", index=False)
    pd.testing.assert_frame_equal(read_manifest(tmp_path / "m.csv"), manifest, check_dtype=False)
