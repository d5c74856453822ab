"""validate(): one test per check, on images generated here, plus what validate promises overall."""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from datasize.dataset.checks import CheckConfig, label_key
from datasize.dataset.manifest import scan
from datasize.dataset.validation import Findings, validate
from tests.conftest import encode, image_array


def found(findings: Findings, check: str) -> pd.DataFrame:
    return findings.table[findings.table["check"] == check]


def errors(findings: Findings) -> set[str]:
    return set(findings.table.loc[findings.table["severity"] == "error", "path"])


def test_a_clean_dataset_passes_with_no_findings(folder_dataset: Path) -> None:
    findings = validate(folder_dataset)
    assert findings.table.empty
    assert findings.passed()
    assert (findings.images, findings.classes) == (36, 3)


def test_zero_byte_file_is_an_error(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "empty.png").write_bytes(b"")
    hit = found(validate(folder_dataset), "empty_file")
    assert hit[["path", "severity"]].values.tolist() == [["cat/empty.png", "error"]]


def test_text_saved_as_jpeg_is_unreadable(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "notes.jpg").write_text("not a picture")
    hit = found(validate(folder_dataset), "unreadable")
    assert list(hit["path"]) == ["cat/notes.jpg"]
    assert "not an image" in hit["detail"].iloc[0]


@pytest.mark.parametrize(("fmt", "name", "keep"), [("JPEG", "cut.jpg", 0.5), ("PNG", "cut.png", 0.6)])
def test_truncated_images_are_errors(folder_dataset: Path, fmt: str, name: str, keep: float) -> None:
    data = encode(Image.fromarray(image_array(7, (64, 64))), fmt)
    (folder_dataset / "dog" / name).write_bytes(data[: int(len(data) * keep)])
    hit = found(validate(folder_dataset), "truncated")
    assert list(hit["path"]) == [f"dog/{name}"]


def test_png_missing_only_its_end_chunk_is_truncated(folder_dataset: Path) -> None:
    data = encode(Image.fromarray(image_array(7, (64, 64))), "PNG")
    (folder_dataset / "dog" / "no_end.png").write_bytes(data[:-12])
    assert list(found(validate(folder_dataset), "truncated")["path"]) == ["dog/no_end.png"]


def test_content_format_differing_from_extension_is_a_warning(folder_dataset: Path, make_image) -> None:
    make_image(folder_dataset / "cat" / "really_png.jpg", seed=900, fmt="PNG")
    hit = found(validate(folder_dataset), "format_mismatch")
    assert hit[["path", "severity"]].values.tolist() == [["cat/really_png.jpg", "warning"]]
    assert "content is PNG" in hit["detail"].iloc[0]


@pytest.mark.parametrize(
    ("mode", "fmt", "ext", "words"),
    [
        ("CMYK", "JPEG", ".jpg", "CMYK"),
        ("I;16", "PNG", ".png", "16-bit"),
        ("RGBA", "PNG", ".png", "alpha"),
        ("P", "PNG", ".png", "palette"),
        ("LA", "PNG", ".png", "alpha"),
        ("1", "PNG", ".png", "1-bit"),
    ],
)
def test_unusual_modes_are_warnings(folder_dataset: Path, mode: str, fmt: str, ext: str, words: str) -> None:
    image = Image.fromarray(image_array(901, (32, 32)))
    image = (
        Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
        if mode == "I;16"
        else image.convert(mode)
    )
    (folder_dataset / "cat" / f"odd{ext}").write_bytes(encode(image, fmt))
    hit = found(validate(folder_dataset), "unusual_mode")
    assert list(hit["path"]) == [f"cat/odd{ext}"]
    assert words in hit["detail"].iloc[0]


def test_palette_with_transparency_is_an_unusual_mode(folder_dataset: Path) -> None:
    image = Image.fromarray(image_array(902, (32, 32))).convert("P")
    (folder_dataset / "cat" / "pa.png").write_bytes(encode(image, "PNG", transparency=0))
    hit = found(validate(folder_dataset), "unusual_mode")
    assert list(hit["path"]) == ["cat/pa.png"] and "transparency" in hit["detail"].iloc[0]


def test_animated_images_are_noted(folder_dataset: Path) -> None:
    frames = [Image.fromarray(image_array(s, (32, 32))).convert("P") for s in (903, 904)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    (folder_dataset / "cat" / "anim.gif").write_bytes(buffer.getvalue())
    hit = found(validate(folder_dataset), "animated")
    assert hit[["path", "severity"]].values.tolist() == [["cat/anim.gif", "info"]]


def test_tiny_images_are_too_small(folder_dataset: Path, make_image) -> None:
    make_image(folder_dataset / "cat" / "tiny.png", seed=905, size=(4, 4))
    assert list(found(validate(folder_dataset), "too_small")["path"]) == ["cat/tiny.png"]


def test_small_relative_to_the_dataset_is_too_small(tmp_path: Path, make_image) -> None:
    for i in range(10):
        make_image(tmp_path / "a" / f"{i}.png", seed=i, size=(128, 128))
    make_image(tmp_path / "a" / "thumb.png", seed=99, size=(24, 24))
    assert list(found(validate(tmp_path), "too_small")["path"]) == ["a/thumb.png"]


def test_extreme_aspect_ratio_is_a_warning(folder_dataset: Path, make_image) -> None:
    make_image(folder_dataset / "dog" / "strip.png", seed=906, size=(200, 20))
    hit = found(validate(folder_dataset), "extreme_aspect")
    assert list(hit["path"]) == ["dog/strip.png"] and "10.0:1" in hit["detail"].iloc[0]


def test_huge_images_relative_to_the_dataset_are_too_large(folder_dataset: Path, make_image) -> None:
    make_image(folder_dataset / "dog" / "huge.png", seed=907, size=(400, 400))
    assert list(found(validate(folder_dataset), "too_large")["path"]) == ["dog/huge.png"]


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bombs_are_refused_without_decoding(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "bomb.png").write_bytes(_png_declaring(200_000, 200_000))
    hit = found(validate(folder_dataset), "decompression_bomb")
    assert hit[["path", "severity"]].values.tolist() == [["cat/bomb.png", "error"]]
    assert "40,000,000,000 pixels" in hit["detail"].iloc[0]


def test_the_pixel_limit_is_configurable(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "big.png").write_bytes(_png_declaring(3000, 3000))
    findings = validate(folder_dataset, config=CheckConfig(max_pixels=1_000_000))
    hit = found(findings, "decompression_bomb")
    assert list(hit["path"]) == ["cat/big.png"]
    assert "9,000,000 pixels exceeds the limit of 1,000,000" in hit["detail"].iloc[0]


def test_links_out_of_the_root_are_not_followed(tmp_path: Path, folder_dataset: Path, make_image) -> None:
    secret = make_image(tmp_path / "secret.png", seed=908)
    (folder_dataset / "cat" / "link.png").symlink_to(secret)
    (folder_dataset / "cat" / "inside.png").symlink_to(folder_dataset / "cat" / "00.png")
    findings = validate(folder_dataset)
    assert list(found(findings, "link_outside_root")["path"]) == ["cat/link.png"]
    assert "cat/inside.png" not in errors(findings)


def test_broken_and_looping_links_are_unreadable(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "broken.png").symlink_to(folder_dataset / "nowhere.png")
    (folder_dataset / "cat" / "loop.png").symlink_to(folder_dataset / "cat" / "loop.png")
    hit = found(validate(folder_dataset), "unreadable")
    assert sorted(hit["path"]) == ["cat/broken.png", "cat/loop.png"]


def test_a_folder_link_loop_is_reported_and_not_walked(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "again").symlink_to(folder_dataset, target_is_directory=True)
    findings = validate(folder_dataset)
    assert findings.images == 36
    hit = found(findings, "skipped_file")
    assert hit[["path", "detail"]].values.tolist() == [
        ["cat/again", "link to a folder inside the dataset root; not followed"]
    ]


def test_a_folder_link_out_of_the_root_is_an_error(tmp_path: Path, folder_dataset: Path, make_image) -> None:
    make_image(tmp_path / "elsewhere" / "x.png", seed=5)
    (folder_dataset / "cat" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert list(found(validate(folder_dataset), "link_outside_root")["path"]) == ["cat/more"]


def test_a_named_pipe_is_unreadable_and_does_not_hang(folder_dataset: Path) -> None:
    os.mkfifo(folder_dataset / "cat" / "pipe.png")
    hit = found(validate(folder_dataset), "unreadable")
    assert hit[["path", "detail"]].values.tolist() == [
        ["cat/pipe.png", "not a regular file (a pipe, socket or device)"]
    ]


def test_a_named_pipe_without_an_image_extension_is_skipped_not_read(folder_dataset: Path) -> None:
    os.mkfifo(folder_dataset / "cat" / "pipe")
    assert list(found(validate(folder_dataset), "skipped_file")["path"]) == ["cat/pipe"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_files_without_read_permission_are_unreadable(folder_dataset: Path, make_image) -> None:
    locked = make_image(folder_dataset / "cat" / "locked.png", seed=909)
    locked.chmod(0)
    try:
        assert list(found(validate(folder_dataset), "unreadable")["path"]) == ["cat/locked.png"]
    finally:
        locked.chmod(0o644)


def test_exact_copies_under_one_label_are_duplicates(folder_dataset: Path) -> None:
    shutil.copyfile(folder_dataset / "cat" / "03.png", folder_dataset / "cat" / "copy.png")
    hit = found(validate(folder_dataset), "exact_duplicate")
    assert sorted(hit["path"]) == ["cat/03.png", "cat/copy.png"]
    assert set(hit["severity"]) == {"warning"}
    assert hit.set_index("path").loc["cat/copy.png", "related"] == ["cat/03.png"]


def test_re_encoded_copies_are_near_duplicates(folder_dataset: Path) -> None:
    original = Image.fromarray(image_array(910, (96, 96)))
    (folder_dataset / "dog" / "orig.png").write_bytes(encode(original, "PNG"))
    smaller = original.resize((64, 64), Image.Resampling.BILINEAR)
    (folder_dataset / "dog" / "copy.jpg").write_bytes(encode(smaller, "JPEG", quality=80))
    hit = found(validate(folder_dataset), "near_duplicate")
    assert sorted(hit["path"]) == ["dog/copy.jpg", "dog/orig.png"]
    # Files of different sizes: the thumbnails are what was compared, and the finding says so.
    detail = hit["detail"].iloc[0]
    assert re.search(
        r"2 near-identical images \(similarity (0\.9\d|1\.00), 16x16 thumbnails compared\)", detail
    )


def test_the_near_duplicate_radius_and_threshold_are_configurable(folder_dataset: Path) -> None:
    original = Image.fromarray(image_array(910, (96, 96)))
    (folder_dataset / "dog" / "orig.png").write_bytes(encode(original, "PNG"))
    # Resized too: a quality-30 copy of a file of the same size now fails the second look (#23).
    smaller = original.resize((72, 72), Image.Resampling.BILINEAR)
    (folder_dataset / "dog" / "copy.jpg").write_bytes(encode(smaller, "JPEG", quality=30))
    assert found(validate(folder_dataset, config=CheckConfig(near_radius=0)), "near_duplicate").empty
    assert not found(validate(folder_dataset, config=CheckConfig(near_radius=8)), "near_duplicate").empty
    assert found(validate(folder_dataset, config=CheckConfig(near_threshold=0.999)), "near_duplicate").empty


def test_one_image_under_two_labels_is_a_conflict(folder_dataset: Path) -> None:
    shutil.copyfile(folder_dataset / "cat" / "05.png", folder_dataset / "dog" / "cat_in_dog.png")
    findings = validate(folder_dataset)
    hit = found(findings, "label_conflict")
    assert sorted(hit["path"]) == ["cat/05.png", "dog/cat_in_dog.png"]
    assert set(hit["severity"]) == {"error"}
    assert hit.set_index("path").loc["dog/cat_in_dog.png", "detail"] == (
        "the same image is labelled 'cat' at cat/05.png (similarity 1.00, file bytes compared)"
    )
    assert found(findings, "exact_duplicate").empty


def test_copies_across_train_and_valid_folders_are_leakage(tmp_path: Path, make_image) -> None:
    for i in range(12):
        make_image(tmp_path / "train" / "cat" / f"{i}.png", seed=i)
        make_image(tmp_path / "valid" / "cat" / f"{i}.png", seed=50 + i)
    shutil.copyfile(tmp_path / "train" / "cat" / "3.png", tmp_path / "valid" / "cat" / "leak.png")
    hit = found(validate(tmp_path), "split_leakage")
    assert sorted(hit["path"]) == ["train/cat/3.png", "valid/cat/leak.png"]
    assert set(hit["severity"]) == {"error"}


def test_a_split_file_is_checked_for_leakage(folder_dataset: Path, tmp_path: Path) -> None:
    shutil.copyfile(folder_dataset / "cat" / "00.png", folder_dataset / "cat" / "copy.png")
    split = pd.DataFrame({"path": ["cat/00.png", "cat/copy.png"], "split": ["train", "valid"]})
    split.to_csv(tmp_path / "split.csv", index=False)
    hit = found(validate(folder_dataset, split=tmp_path / "split.csv"), "split_leakage")
    assert sorted(hit["path"]) == ["cat/00.png", "cat/copy.png"]


def test_classes_with_too_few_images_are_small(folder_dataset: Path, make_image) -> None:
    for i in range(2):
        make_image(folder_dataset / "owl" / f"{i}.png", seed=950 + i)
    findings = validate(folder_dataset)
    hit = found(findings, "small_class")
    assert hit[["path", "label"]].values.tolist() == [["owl", "owl"]]
    assert "2 readable images; at least 10" in hit["detail"].iloc[0]
    assert list(found(findings, "class_imbalance")["label"]) == ["owl"]


def test_unreadable_images_do_not_count_towards_a_class(folder_dataset: Path) -> None:
    findings = validate(folder_dataset, config=CheckConfig(min_class_images=13))
    assert sorted(found(findings, "small_class")["label"]) == ["cat", "dog", "fox"]


def test_empty_class_folders_are_reported(folder_dataset: Path) -> None:
    (folder_dataset / "wolf").mkdir()
    (folder_dataset / "wolf" / ".keep").write_bytes(b"")
    hit = found(validate(folder_dataset), "empty_class")
    assert hit[["path", "label"]].values.tolist() == [["wolf", "wolf"]]


def test_imbalance_compares_each_class_with_the_largest(folder_dataset: Path, make_image) -> None:
    for i in range(60):
        make_image(folder_dataset / "bee" / f"{i}.png", seed=1000 + i, size=(16, 16))
    hit = found(validate(folder_dataset, config=CheckConfig(imbalance_ratio=4)), "class_imbalance")
    assert sorted(hit["label"]) == ["cat", "dog", "fox"]
    assert "20% of the largest class" in hit["detail"].iloc[0]


def test_label_names_differing_in_case_or_spacing_are_variants(folder_dataset: Path, make_image) -> None:
    for i in range(10):
        make_image(folder_dataset / "Golden Retriever" / f"{i}.png", seed=1100 + i)
        make_image(folder_dataset / "golden_retriever" / f"{i}.png", seed=1200 + i)
    hit = found(validate(folder_dataset), "label_variants")
    assert sorted(hit["path"]) == ["Golden Retriever", "golden_retriever"]


def test_label_key_folds_case_spacing_and_punctuation() -> None:
    assert label_key(" Golden_Retriever ") == label_key("golden-retriever") == label_key("golden  retriever")
    assert label_key("cat") != label_key("cats")


def test_blank_labels_and_repeated_rows_in_a_csv_break_the_schema(tmp_path: Path, make_image) -> None:
    for i in range(3):
        make_image(tmp_path / f"{i}.png", seed=i)
    (tmp_path / "labels.csv").write_text("path,label\n0.png,cat\n1.png,  \n2.png,cat\n2.png,cat\n")
    hit = found(validate(tmp_path, labels=tmp_path / "labels.csv"), "manifest_schema")
    assert hit[["path", "detail"]].values.tolist() == [
        ["1.png", "blank label"],
        ["2.png", "the same path is listed more than once"],
    ]


def test_findings_are_sorted_errors_first_and_are_json_ready(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "empty.png").write_bytes(b"")
    shutil.copyfile(folder_dataset / "cat" / "03.png", folder_dataset / "cat" / "copy.png")
    findings = validate(folder_dataset)
    assert list(findings.table["severity"]) == ["error", "warning", "warning"]
    as_json = findings.to_dict()
    assert as_json["passed"] is False
    assert {"images", "classes", "passed", "findings"} <= set(as_json)
    assert set(as_json["findings"][0]) == {"check", "severity", "path", "label", "detail", "related"}


@pytest.mark.parametrize(("fail_on", "passed"), [("error", True), ("warning", False), ("info", False)])
def test_passed_depends_on_the_fail_on_severity(folder_dataset: Path, fail_on: str, passed: bool) -> None:
    shutil.copyfile(folder_dataset / "cat" / "03.png", folder_dataset / "cat" / "copy.png")
    assert validate(folder_dataset).passed(fail_on) is passed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"near_radius": 64}, "near_radius=64"),
        ({"near_threshold": 2}, "near_threshold=2 must be between 0 and 1"),
        ({"max_aspect": 0}, "max_aspect=0 must be positive"),
        ({"min_class_images": -1}, "min_class_images=-1"),
    ],
)
def test_bad_thresholds_are_value_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CheckConfig(**kwargs)


def test_the_summary_line_says_1_error_not_1_errors(tmp_path) -> None:
    from tests.conftest import stripes_folders

    data = stripes_folders(tmp_path / "photos", 12)
    (data / "vertical" / "empty.png").write_bytes(b"")
    line = validate(data, jobs=1).summary_line()
    assert ": 1 error, 0 warnings, 0 notes" in line


# --- on a Dask cluster ------------------------------------------------------------------------


def test_validating_on_a_dask_cluster_finds_what_a_local_run_finds(folder_dataset: Path) -> None:
    distributed = pytest.importorskip("distributed")
    shutil.copyfile(folder_dataset / "cat" / "03.png", folder_dataset / "dog" / "copy_of_cat.png")
    (folder_dataset / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    local = validate(folder_dataset, jobs=1)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with distributed.get_task_stream(client) as stream:
            remote = validate(folder_dataset, scheduler=client)
        manifest = scan(folder_dataset, scheduler=client)
    assert any("probe_many" in str(task["key"]) for task in stream.data)  # probed there, not here
    assert {"label_conflict", "unreadable"} <= set(local.table["check"])
    pd.testing.assert_frame_equal(remote.table, local.table)
    pd.testing.assert_frame_equal(manifest, scan(folder_dataset, jobs=1))


def test_a_scheduler_for_a_manifest_already_scanned_is_refused(folder_dataset: Path) -> None:
    with pytest.raises(ValueError, match="only apply when data is a folder"):
        validate(scan(folder_dataset, jobs=1), scheduler="tcp://localhost:1")


# --- progress ---------------------------------------------------------------------------------


def test_every_long_step_reports_its_progress_to_the_end(folder_dataset: Path) -> None:
    shutil.copyfile(folder_dataset / "cat" / "03.png", folder_dataset / "cat" / "copy.png")
    calls: list[tuple[str, int, int]] = []
    validate(folder_dataset, jobs=1, steps=lambda step, done, total: calls.append((step, done, total)))
    last = {step: (done, total) for step, done, total in calls}
    assert set(last) == {
        "probing images",
        "near-duplicate candidates (images hashed)",
        "thumbnails compared (candidate pairs)",
        "second look (pairs decoded again)",
        "Great Expectations tables",
    }
    assert all(done == total for done, total in last.values())
    assert last["Great Expectations tables"] == (5, 5)
