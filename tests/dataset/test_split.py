"""`split`: seeded, reproducible, duplicate-aware validation splits, and `datasize split`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from datasize.cli import main
from datasize.dataset.manifest import scan
from datasize.dataset.splits import SeededSplit, SplitResult, fingerprint, read_split, split, write_split
from datasize.vocab import SplitMethod
from tests.conftest import lookalike_images, write_images

PETS = {"cat": 12, "dog": 9, "emu": 1, "fox": 17, "gnu": 5}  # 44 images; emu has one


def png_bytes(seed: int, size: int = 32, fmt: str = "PNG", **options) -> bytes:
    """A smooth seeded image (a random 4x4 colour grid, blurred up), so perceptual hashes differ by seed."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(grid).resize((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pet_files(counts: dict[str, int], *, first_seed: int = 0) -> dict[str, bytes]:
    """File contents by relative path: counts[label] images per class folder, distinct seeds."""
    files, seed = {}, first_seed
    for label, n in counts.items():
        for i in range(n):
            files[f"{label}/{i:02d}.png"] = png_bytes(seed)
            seed += 1
    return files


def write_tree(root: Path, files: dict[str, bytes], *, order: list[str] | None = None) -> Path:
    """Write `files` under root, in the given creation order (default: sorted)."""
    for rel in order or sorted(files):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
    return root


def sides(result: SplitResult) -> dict[str, str]:
    return dict(zip(result.table["path"], result.table["split"], strict=True))


def file_bytes(path: Path) -> tuple[bytes, bytes]:
    return path.read_bytes(), Path(f"{path}.json").read_bytes()


@pytest.fixture(scope="module")
def pets(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The manifest of a five-class folder dataset with distinct images and one one-image class."""
    return scan(write_tree(tmp_path_factory.mktemp("pets"), pet_files(PETS)), jobs=1)


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Pets plus an exact copy (dog/00 again) and a near copy (a 64 px PNG re-encoded as JPEG)."""
    files = pet_files(PETS)
    files["dog/00_copy.png"] = files["dog/00.png"]
    files["cat/big.png"] = png_bytes(999, size=64)
    files["cat/big_again.jpg"] = png_bytes(999, size=64, fmt="JPEG", quality=95)
    return scan(write_tree(tmp_path_factory.mktemp("copies"), files), jobs=1)


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Twelve patients with 2 to 5 images each, of two classes, from a labels CSV with a group column."""
    root = tmp_path_factory.mktemp("patients")
    rng = np.random.default_rng(7)
    rows, seed = [], 500
    for p in range(12):
        for i in range(int(rng.integers(2, 6))):
            rel = f"img/p{p:02d}_{i}.png"
            write_tree(root, {rel: png_bytes(seed)})
            rows.append({"path": rel, "label": ["benign", "malignant"][(p + i) % 2], "patient": f"P{p:02d}"})
            seed += 1
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return scan(root, labels=root / "labels.csv", group_col="patient", jobs=1)


# --- methods ----------------------------------------------------------------------------------


@pytest.mark.parametrize("valid_pct", [0.1, 0.2, 0.25, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_keeps_every_class_share_within_one_image(
    pets: pd.DataFrame, valid_pct: float, seed: int
) -> None:
    result = split(pets, method="stratified", valid_pct=valid_pct, seed=seed)
    for label, counts in result.info["counts"].items():
        n = counts["train"] + counts["valid"]
        if n > 1:
            assert abs(counts["valid"] - valid_pct * n) < 1, label


def test_stratified_is_the_default_and_draws_round_valid_pct_of_the_images(pets: pd.DataFrame) -> None:
    result = split(pets, valid_pct=0.2, seed=3)
    assert result.info["method"] == "stratified"
    assert result.info["n_valid"] == round(0.2 * len(pets))
    assert list(result.table.columns) == ["path", "label", "split"]


def test_stratified_share_holds_with_duplicates_kept_together(copies: pd.DataFrame) -> None:
    for seed in range(5):
        for label, counts in split(copies, valid_pct=0.25, seed=seed).info["counts"].items():
            n = counts["train"] + counts["valid"]
            if n > 1:
                assert abs(counts["valid"] - 0.25 * n) < 1, (seed, label)


def test_random_draws_round_valid_pct_of_the_images(pets: pd.DataFrame) -> None:
    result = split(pets, method="random", valid_pct=0.3, seed=0)
    assert result.info["n_valid"] == round(0.3 * len(pets))
    assert set(result.table["split"]) == {"train", "valid"}


def test_another_seed_gives_another_split(pets: pd.DataFrame) -> None:
    for method in ("random", "stratified", "hash"):
        assert (
            split(pets, method=method, seed=0).fingerprint != split(pets, method=method, seed=1).fingerprint
        )


def test_group_method_never_lets_a_group_straddle(patients: pd.DataFrame) -> None:
    for seed in range(10):
        table = split(patients, method="group", valid_pct=0.25, seed=seed).table
        assert (table.groupby("group")["split"].nunique() == 1).all(), seed
        assert set(table["split"]) == {"train", "valid"}


def test_group_method_writes_the_group_column_and_counts_groups(patients: pd.DataFrame) -> None:
    result = split(patients, method="group", seed=0)
    assert list(result.table.columns) == ["path", "label", "split", "group"]
    assert result.info["group_col"] == "group"
    assert result.info["n_groups"] == 12


def test_group_method_takes_groups_from_a_named_column(patients: pd.DataFrame) -> None:
    manifest = patients.assign(site=patients["group"].str[:2], group="")
    table = split(manifest, method="group", group_col="site", valid_pct=0.3, seed=1).table
    assert (table.groupby("group")["split"].nunique() == 1).all()


def test_duplicates_tie_groups_together(patients: pd.DataFrame) -> None:
    # The same image under two patients makes one unit of both patients.
    bridged = patients.copy()
    bridged.loc[bridged["group"] == "P01", "sha256"] = bridged.loc[bridged["group"] == "P00", "sha256"].iloc[
        0
    ]
    bridged.loc[bridged["group"] == "P01", ["phash", "dhash"]] = (
        bridged.loc[bridged["group"] == "P00", ["phash", "dhash"]].iloc[0].to_numpy()
    )
    for seed in range(8):
        table = split(bridged, method="group", valid_pct=0.3, seed=seed).table
        assert table.loc[table["group"].isin(["P00", "P01"]), "split"].nunique() == 1, seed


def test_hash_side_depends_only_on_the_path_and_seed(pets: pd.DataFrame) -> None:
    whole = sides(split(pets, method="hash", seed=5))
    half = sides(split(pets.iloc[::2], method="hash", seed=5))
    assert all(whole[path] == side for path, side in half.items())


# --- duplicates -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["random", "stratified", "hash"])
def test_exact_and_near_copies_land_on_one_side(copies: pd.DataFrame, method: str) -> None:
    for seed in range(8):
        result = split(copies, method=method, valid_pct=0.3, seed=seed)
        side = sides(result)
        assert side["dog/00.png"] == side["dog/00_copy.png"], seed
        assert side["cat/big.png"] == side["cat/big_again.jpg"], seed
        assert result.info["duplicate_groups"] == 2
        assert result.info["duplicate_groups_straddling"] == 0


def test_verified_copies_stay_together_and_distinct_look_alikes_are_not_grouped(tmp_path: Path) -> None:
    images = lookalike_images(per_kind=10)
    images["glyph_3/03_resized.jpg"] = images["glyph_3/03.png"].resize((34, 34), Image.Resampling.BICUBIC)
    images["square/05_smaller.png"] = images["square/05.png"].resize((40, 40), Image.Resampling.BILINEAR)
    manifest = scan(write_images(tmp_path, images), jobs=1)
    for seed in range(6):
        result = split(manifest, valid_pct=0.3, seed=seed)
        side = sides(result)
        assert side["glyph_3/03.png"] == side["glyph_3/03_resized.jpg"], seed
        assert side["square/05.png"] == side["square/05_smaller.png"], seed
        assert (result.info["duplicate_groups"], result.info["duplicate_images"]) == (2, 4)
    # The hash candidates alone would tie dozens of distinct look-alikes into units.
    assert split(manifest, near_threshold=0.0).info["duplicate_images"] > 20


def test_the_record_says_which_near_duplicates_were_kept_together(copies: pd.DataFrame) -> None:
    info = split(copies, near_radius=8, near_threshold=0.95).info
    assert (info["near_radius"], info["near_threshold"]) == (8, 0.95)


def test_copies_go_to_valid_together_too(copies: pd.DataFrame) -> None:
    in_valid = {sides(split(copies, method="random", valid_pct=0.3, seed=s))["dog/00.png"] for s in range(20)}
    assert in_valid == {"train", "valid"}


def test_the_record_says_duplicates_were_kept_together(copies: pd.DataFrame) -> None:
    info = split(copies, seed=0).info
    assert info["duplicates_kept_together"] is True
    assert (info["duplicate_groups"], info["duplicate_images"]) == (2, 4)
    assert info["duplicate_groups_kept_together"] == 2


def test_copies_may_straddle_when_asked_and_are_reported(copies: pd.DataFrame) -> None:
    results = [
        split(copies, method="random", valid_pct=0.5, seed=s, keep_duplicates_together=False)
        for s in range(10)
    ]
    straddling = [r for r in results if r.info["duplicate_groups_straddling"]]
    assert straddling, "some seed should split a pair"
    assert all(r.info["duplicates_kept_together"] is False for r in results)
    assert any("straddling train and valid" in w for w in straddling[0].info["warnings"])


# --- degenerate cases and errors --------------------------------------------------------------


@pytest.mark.parametrize("method", ["random", "stratified"])
def test_a_one_image_class_goes_to_train_with_a_warning(pets: pd.DataFrame, method: str) -> None:
    for seed in range(5):
        result = split(pets, method=method, valid_pct=0.5, seed=seed)
        assert sides(result)["emu/00.png"] == "train"
        assert any("one image" in w and "'emu'" in w for w in result.info["warnings"])


def test_hash_leaves_a_one_image_class_where_its_hash_puts_it(pets: pd.DataFrame) -> None:
    # Forcing it to train would move it once its class grows; the warning still names it.
    result = split(pets, method="hash", seed=0)
    assert any("one image" in w and "'emu'" in w for w in result.info["warnings"])


@pytest.mark.parametrize("valid_pct", [0, 1, -0.1, 1.5, math.nan])
def test_valid_pct_must_lie_strictly_between_0_and_1(pets: pd.DataFrame, valid_pct: float) -> None:
    with pytest.raises(ValueError, match=r"valid_pct=.* must be between 0 and 1, both excluded"):
        split(pets, valid_pct=valid_pct)


def test_a_share_under_one_image_is_an_error(pets: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"valid_pct=0.01 of 44 readable images is 0.44, under one"):
        split(pets, valid_pct=0.01)


def test_a_share_that_leaves_no_training_image_is_an_error(pets: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"asks for 44 in valid and leaves none to train on"):
        split(pets, valid_pct=0.99)


def test_a_missing_group_column_is_an_error_naming_the_columns(pets: pd.DataFrame) -> None:
    with pytest.raises(
        ValueError, match=r"group_col='patient' is not a column of the manifest; its columns are 'path'"
    ):
        split(pets, method="group", group_col="patient")


def test_the_group_method_without_groups_is_an_error(pets: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"method='group' needs groups, but column 'group' is empty"):
        split(pets, method="group")


def test_a_group_column_with_another_method_is_an_error(patients: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"group_col='group' only applies to method='group'"):
        split(patients, method="stratified", group_col="group")


def test_groups_too_large_for_the_share_are_an_error(patients: pd.DataFrame) -> None:
    two_groups = patients.assign(group=np.where(patients.index % 2 == 0, "A", "B"))
    with pytest.raises(ValueError, match=r"method='group' leaves no image in valid .* groups are too large"):
        split(two_groups, method="group", valid_pct=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "kfold"}, r"method='kfold' is not one of random, stratified, group, hash, given"),
        ({"seed": -1}, r"seed=-1 must be an integer from 0 to 2\*\*64 - 1"),
        ({"seed": 1.5}, r"seed=1.5 must be an integer"),
        ({"near_radius": 64}, r"near_radius=64 must be between 0 and 63 bits"),
        ({"near_threshold": 1.2}, r"near_threshold=1.2 must be between 0 and 1"),
        ({"method": "given"}, r"method='given' needs a given split"),
    ],
)
def test_bad_arguments_are_errors_that_name_the_value(pets: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split(pets, **kwargs)


def test_unreadable_images_are_left_out_and_counted(tmp_path: Path) -> None:
    files = pet_files({"cat": 6, "dog": 6})
    files["cat/broken.png"] = b"not an image at all"
    result = split(scan(write_tree(tmp_path, files), jobs=1), seed=0)
    assert "cat/broken.png" not in set(result.table["path"])
    assert result.info["excluded_unreadable"] == 1
    assert result.info["n_images"] == 12
    assert any("unreadable images left out: 1" in n for n in result.info["notes"])


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["random", "stratified", "hash"])
def test_the_same_inputs_give_byte_identical_files(pets: pd.DataFrame, tmp_path: Path, method: str) -> None:
    first, second = tmp_path / "a" / "split.csv", tmp_path / "b" / "split.csv"
    write_split(split(pets, method=method, seed=11), first)
    write_split(split(pets, method=method, seed=11), second)
    assert file_bytes(first) == file_bytes(second)


def test_a_copy_created_in_another_order_gives_byte_identical_files(tmp_path: Path) -> None:
    files = pet_files(PETS)
    files["dog/00_copy.png"] = files["dog/00.png"]
    order = sorted(files)
    random.Random(0).shuffle(order)
    made = [write_tree(tmp_path / name, files, order=o) for name, o in (("one", None), ("two", order))]
    outputs = []
    for root in made:
        result = split(scan(root, jobs=1), seed=42)
        write_split(result, root.parent / f"{root.name}.csv")
        outputs.append((file_bytes(root.parent / f"{root.name}.csv"), result.fingerprint))
    assert outputs[0] == outputs[1]


def test_the_row_order_of_the_manifest_does_not_matter(copies: pd.DataFrame) -> None:
    shuffled = copies.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for method in ("random", "stratified", "hash"):
        assert (
            split(shuffled, method=method, seed=2).fingerprint
            == split(copies, method=method, seed=2).fingerprint
        )


def test_split_touches_neither_global_random_state_nor_the_manifest(pets: pd.DataFrame) -> None:
    before = pets.copy()
    np_state, py_state = np.random.get_state(), random.getstate()
    split(pets, method="random", seed=0)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(np_state, after, strict=True))
    assert random.getstate() == py_state
    pd.testing.assert_frame_equal(pets, before)


def test_the_fingerprint_is_the_sha256_of_sorted_path_tab_split_lines(pets: pd.DataFrame) -> None:
    result = split(pets, seed=0)
    lines = "".join(
        f"{p}\t{s}\n" for p, s in sorted(zip(result.table["path"], result.table["split"], strict=True))
    )
    assert result.fingerprint == hashlib.sha256(lines.encode("utf-8")).hexdigest()
    assert fingerprint(result.table.iloc[::-1]) == result.fingerprint


# --- hash: growing datasets -------------------------------------------------------------------


def test_hash_never_moves_an_existing_image_when_images_are_added(tmp_path: Path) -> None:
    old_files = pet_files(PETS)
    new_files = {**old_files, **pet_files({"cat": 20, "emu": 3, "yak": 6}, first_seed=1000)}
    new_files = {(k if k in old_files else k.replace(".png", "_new.png")): v for k, v in new_files.items()}
    old = scan(write_tree(tmp_path / "old", old_files), jobs=1)
    new = scan(write_tree(tmp_path / "new", new_files), jobs=1)
    assert len(new) > len(old)
    for seed in range(3):
        before, after = (
            sides(split(old, method="hash", seed=seed)),
            sides(split(new, method="hash", seed=seed)),
        )
        assert "valid" in before.values()
        assert {p: after[p] for p in before} == before, seed


def test_hash_copies_added_later_never_move_an_image_from_train_to_valid(tmp_path: Path) -> None:
    old_files = pet_files(PETS)
    added = {f"{rel[:-4]}_copy.png": old_files[rel] for rel in sorted(old_files)[::4]}
    old = scan(write_tree(tmp_path / "old", old_files), jobs=1)
    new = scan(write_tree(tmp_path / "new", {**old_files, **added}), jobs=1)
    for seed in range(5):
        before, after = (
            sides(split(old, method="hash", seed=seed)),
            sides(split(new, method="hash", seed=seed)),
        )
        assert all(after[p] == "train" for p, s in before.items() if s == "train"), seed
        assert all(after[copy] == after[copy.replace("_copy", "")] for copy in added), seed


def test_hash_with_a_larger_share_only_moves_images_to_valid(pets: pd.DataFrame) -> None:
    small, large = (
        sides(split(pets, method="hash", valid_pct=0.2)),
        sides(split(pets, method="hash", valid_pct=0.4)),
    )
    assert all(large[p] == "valid" for p, s in small.items() if s == "valid")


# --- given splits -----------------------------------------------------------------------------


def given_tree(root: Path) -> Path:
    files = pet_files({"cat": 5, "dog": 5})
    moved = {
        (f"valid/{rel}" if rel.endswith(("00.png", "01.png")) else f"train/{rel}"): v
        for rel, v in files.items()
    }
    return write_tree(root, moved)


def test_train_and_valid_folders_are_respected(tmp_path: Path) -> None:
    result = split(scan(given_tree(tmp_path), jobs=1), seed=1, valid_pct=0.5)
    assert result.info["method"] == "given"
    assert all(s == p.split("/")[0] for p, s in sides(result).items())
    assert (result.info["seed"], result.info["valid_pct"]) == (None, None)
    assert result.info["counts"] == {"cat": {"train": 3, "valid": 2}, "dog": {"train": 3, "valid": 2}}


def test_a_split_column_in_a_labels_csv_is_respected(tmp_path: Path) -> None:
    write_tree(tmp_path, pet_files({"cat": 4, "dog": 4}))
    rows = [
        {"file": f"{label}/{i:02d}.png", "y": label, "side": "valid" if i == 0 else "train"}
        for label in ("cat", "dog")
        for i in range(4)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    manifest = scan(
        tmp_path, labels=tmp_path / "labels.csv", path_col="file", label_col="y", split_col="side", jobs=1
    )
    result = split(manifest)
    assert result.info["method"] == "given"
    assert sorted(result.table.loc[result.table["split"] == "valid", "path"]) == ["cat/00.png", "dog/00.png"]


def test_copies_straddling_a_given_split_are_warned_about(tmp_path: Path) -> None:
    root = given_tree(tmp_path)
    shutil.copy(root / "train/cat/02.png", root / "valid/cat/02_again.png")
    result = split(scan(root, jobs=1))
    assert result.info["duplicate_groups_straddling"] == 1
    assert any("duplicate groups straddling train and valid: 1" in w for w in result.info["warnings"])


def test_a_method_named_on_a_given_split_draws_a_new_one_with_a_note(tmp_path: Path) -> None:
    result = split(scan(given_tree(tmp_path), jobs=1), method="random", valid_pct=0.3, seed=0)
    assert result.info["method"] == "random"
    assert any("given split was ignored" in n for n in result.info["notes"])


def test_a_partial_given_split_is_an_error(pets: pd.DataFrame) -> None:
    partial = pets.assign(split=np.where(pets.index < 10, "train", ""))
    with pytest.raises(ValueError, match=r"the given split covers 10 of 44 readable images"):
        split(partial)


# --- files ------------------------------------------------------------------------------------


def test_a_written_split_reads_back_with_its_record(pets: pd.DataFrame, tmp_path: Path) -> None:
    result = split(pets, seed=4)
    write_split(result, tmp_path / "split.csv")
    back = read_split(tmp_path / "split.csv")
    pd.testing.assert_frame_equal(back.table, result.table)
    assert back.info == result.info
    assert b"\r" not in (tmp_path / "split.csv").read_bytes()


def test_reading_an_edited_split_is_an_error(pets: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "split.csv"
    write_split(split(pets, seed=4), target)
    rows = list(csv.reader(target.read_text().splitlines()))
    rows[1][2] = "valid" if rows[1][2] == "train" else "train"
    target.write_text("\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(ValueError, match=r"does not match the fingerprint in split.csv.json"):
        read_split(target)


def test_reading_a_split_without_its_record_is_an_error(pets: pd.DataFrame, tmp_path: Path) -> None:
    write_split(split(pets, seed=4), tmp_path / "split.csv")
    (tmp_path / "split.csv.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no sidecar"):
        read_split(tmp_path / "split.csv")


# --- scikit-learn -----------------------------------------------------------------------------


def toy_rows(n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 4)) + y[:, None]
    return X, y, np.arange(n) // 4


@pytest.mark.parametrize("method", ["random", "stratified", "group", "hash"])
def test_the_splitter_yields_one_pair_that_partitions_the_rows(method: str) -> None:
    X, y, groups = toy_rows()
    splitter = SeededSplit(method=method, valid_pct=0.25, seed=0)
    pairs = list(splitter.split(X, y, groups))
    assert splitter.get_n_splits() == 1 and len(pairs) == 1
    train, valid = pairs[0]
    assert train.dtype.kind == valid.dtype.kind == "i"
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(len(X)))
    if method == "group":
        assert not set(groups[train]) & set(groups[valid])


def test_the_splitter_works_in_cross_val_score() -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y, _ = toy_rows()
    scores = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=SeededSplit(seed=1))
    assert scores.shape == (1,)


def test_the_splitter_knows_rows_by_path_whatever_their_order() -> None:
    paths = np.array([f"img/{i:03d}.png" for i in range(40)])
    labels = np.arange(40) % 2
    order = np.random.default_rng(5).permutation(40)
    for method in ("random", "stratified", "hash"):
        splitter = SeededSplit(method=method, seed=3)
        _, valid = next(splitter.split(paths, labels))
        _, valid_shuffled = next(splitter.split(paths[order], labels[order]))
        assert set(paths[valid]) == set(paths[order][valid_shuffled]), method


@pytest.mark.parametrize(
    ("method", "message"),
    [("stratified", r"method='stratified' needs y"), ("group", r"method='group' needs groups")],
)
def test_the_splitter_asks_for_what_its_method_needs(method: str, message: str) -> None:
    X, _, _ = toy_rows()
    with pytest.raises(ValueError, match=message):
        SeededSplit(method=method).split(X)


def test_the_splitter_refuses_the_given_method_and_bad_shares() -> None:
    with pytest.raises(ValueError, match=r"SeededSplit method='given' must be one of random, stratified"):
        SeededSplit(method="given")
    with pytest.raises(ValueError, match=r"valid_pct=1.5 must be between 0 and 1"):
        SeededSplit(valid_pct=1.5)


# --- command line -----------------------------------------------------------------------------


def test_cli_writes_the_split_and_its_record(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "data", pet_files(PETS))
    out = tmp_path / "split.csv"
    result = CliRunner().invoke(
        main, ["split", str(root), "--valid-pct", "0.2", "--seed", "42", "-o", str(out), "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    written = read_split(out)
    assert written.info["method"] == "stratified" and written.info["seed"] == 42
    assert written.fingerprint in result.output
    assert "kept on one side" in result.output or "none found" in result.output
    assert "'emu'" in result.output


def test_cli_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "data", pet_files(PETS))
    for name in ("a.csv", "b.csv"):
        args = ["split", str(root), "--method", "hash", "-o", str(tmp_path / name), "-j", "1"]
        assert CliRunner().invoke(main, args).exit_code == 0
    assert file_bytes(tmp_path / "a.csv") == file_bytes(tmp_path / "b.csv")


def test_cli_json_prints_the_record(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "data", pet_files(PETS))
    out = tmp_path / "split.csv"
    result = CliRunner().invoke(main, ["split", str(root), "--json", "-o", str(out), "-j", "1"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(Path(f"{out}.json").read_text())


def test_cli_group_col_with_labels_splits_by_group(tmp_path: Path) -> None:
    write_tree(tmp_path / "data", pet_files({"cat": 8, "dog": 8}))
    rows = [
        {"path": f"{label}/{i:02d}.png", "label": label, "site": f"s{i // 2}"}
        for label in ("cat", "dog")
        for i in range(8)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "split.csv"
    args = [
        "split",
        str(tmp_path / "data"),
        "--labels",
        str(tmp_path / "labels.csv"),
        "--group-col",
        "site",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = read_split(out).table
    assert read_split(out).info["method"] == "group"
    assert (table.groupby("group")["split"].nunique() == 1).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--valid-pct", "1.5"], "Error: valid_pct=1.5 must be between 0 and 1"),
        (["--group-col", "site"], "Error: --group-col names a column of the --labels CSV"),
    ],
)
def test_cli_bad_values_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    root = write_tree(tmp_path / "data", pet_files({"cat": 3, "dog": 3}))
    result = CliRunner().invoke(main, ["split", str(root), "-o", str(tmp_path / "s.csv"), *args])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)
    assert not (tmp_path / "s.csv").exists()


def test_cli_near_threshold_reaches_the_split_and_its_record(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "data", pet_files(PETS))
    out = tmp_path / "split.csv"
    args = ["split", str(root), "--near-threshold", "0.95", "--near-radius", "6", "-o", str(out), "-j", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (read_split(out).info["near_radius"], read_split(out).info["near_threshold"]) == (6, 0.95)
    assert "pHash within 6 bits, verified at similarity 0.95" in result.output


def test_split_method_vocabulary_is_the_cli_choice() -> None:
    result = CliRunner().invoke(main, ["split", "--help"])
    for method in SplitMethod:
        assert method.value in result.output
