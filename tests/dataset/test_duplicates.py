"""Near duplicates: hash candidates verified on thumbnails; copies are found, look-alikes are not."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from datasize.dataset.checks import CheckConfig, with_duplicate_groups
from datasize.dataset.duplicates import (
    candidate_pairs,
    duplicate_groups,
    near_pairs,
    verified_pairs,
    verify_candidates,
)
from datasize.dataset.manifest import scan
from datasize.dataset.thumbnails import NearRule, detail_similarity, similarities, thumbnail, thumbnails_array
from datasize.dataset.validation import validate
from tests.conftest import flat_shape, glyph, lookalike_images, write_images


def reencoded(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return Image.open(io.BytesIO(buffer.getvalue()))


def cropped(image: Image.Image) -> Image.Image:
    """About 4% of each axis cut, unevenly: 2 px on one side and 1 on the other (64 px)."""
    width, height = image.size
    return image.crop((2, 1, width - 1, height - 2))


def resized(factor: float) -> Callable[[Image.Image], Image.Image]:
    def resize(image: Image.Image) -> Image.Image:
        size = (round(image.width * factor), round(image.height * factor))
        return image.resize(size, Image.Resampling.BICUBIC)

    return resize


# Each transformation: (the original, how the copy is made, the copy's file name: .jpg files are saved
# as JPEG at Pillow's default quality, 75).
PLANTED: dict[str, tuple[Callable[[], Image.Image], Callable[[Image.Image], Image.Image], str]] = {
    "jpeg": (lambda: flat_shape(50, "hexagon"), lambda im: im, "jpeg.jpg"),
    "png_from_jpeg": (
        lambda: flat_shape(51, "square"),
        lambda im: reencoded(im, "JPEG", quality=75),
        "png.png",
    ),
    "resize_down": (lambda: flat_shape(52, "circle"), resized(0.6), "small.png"),
    "resize_up": (lambda: glyph(53, 3), resized(1.6), "large.png"),
    "resize_jpeg": (lambda: glyph(54, 5), resized(34 / 28), "resized.jpg"),
    "brightness": (
        lambda: flat_shape(55, "triangle"),
        lambda im: ImageEnhance.Brightness(im).enhance(1.15),
        "b.png",
    ),
    "contrast": (lambda: glyph(56, 7), lambda im: ImageEnhance.Contrast(im).enhance(0.85), "c.png"),
    "crop": (lambda: flat_shape(57, "square"), cropped, "crop.png"),
    "rgb_to_gray": (lambda: flat_shape(58, "circle"), lambda im: im.convert("L"), "gray.png"),
    "gray_to_rgb": (lambda: glyph(59, 1), lambda im: im.convert("RGB"), "rgb.png"),
}


@pytest.fixture(scope="module")
def lookalikes(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The manifest of 192 distinct low-detail images: glyphs of 10 kinds, flat shapes of 4."""
    return scan(write_images(tmp_path_factory.mktemp("lookalikes"), lookalike_images()), jobs=1)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """The look-alikes plus one original and its copy per transformation, both under the original's
    kind; returns the root and, per transformation, the (original, copy) paths."""
    images = lookalike_images()
    pairs = {}
    for name, (make, transform, copy_name) in PLANTED.items():
        original = make()
        label = "glyph_x" if original.mode == "L" else "shape_x"
        pairs[name] = (f"{label}/{name}_original.png", f"{label}/{name}_{copy_name}")
        images[pairs[name][0]] = original
        images[pairs[name][1]] = transform(original)
    return write_images(tmp_path_factory.mktemp("planted"), images), pairs


@pytest.fixture(scope="module")
def planted_findings(planted: tuple[Path, dict]) -> pd.DataFrame:
    return validate(planted[0], jobs=1).table


# --- the look-alikes --------------------------------------------------------------------------


def test_distinct_low_detail_images_are_neither_near_duplicates_nor_label_conflicts(lookalikes) -> None:
    findings = validate(lookalikes).table
    assert not findings["check"].isin(["near_duplicate", "label_conflict", "exact_duplicate"]).any()


def test_their_hashes_alone_would_make_label_conflicts(lookalikes: pd.DataFrame) -> None:
    # The set is hard: every hash candidate accepted (threshold 0) links images of different kinds.
    findings = validate(lookalikes, config=CheckConfig(near_threshold=0.0)).table
    assert (findings["check"] == "label_conflict").sum() >= 2


# --- planted copies ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_copy_is_a_near_duplicate_of_its_original(planted, planted_findings, name: str) -> None:
    original, copy = planted[1][name]
    near = planted_findings[planted_findings["check"] == "near_duplicate"].set_index("path")
    assert near.loc[copy, "related"] == [original]
    assert near.loc[original, "related"] == [copy]
    assert 0.9 <= float(near.loc[copy, "detail"].split("similarity ")[1][:4]) <= 1


def test_only_the_planted_copies_are_near_duplicates(planted, planted_findings) -> None:
    near = planted_findings[planted_findings["check"] == "near_duplicate"]
    assert set(near["path"]) == {path for pair in planted[1].values() for path in pair}
    assert not (planted_findings["check"] == "label_conflict").any()


def test_a_verified_copy_under_another_label_is_a_conflict_with_its_similarity(tmp_path: Path) -> None:
    images = lookalike_images(per_kind=4)
    images["circle/copy_of_square.jpg"] = images["square/01.png"].convert("RGB").resize((80, 80))
    findings = validate(write_images(tmp_path, images)).table
    conflicts = findings[findings["check"] == "label_conflict"].set_index("path")
    assert sorted(conflicts.index) == ["circle/copy_of_square.jpg", "square/01.png"]
    assert conflicts.loc["circle/copy_of_square.jpg", "detail"].startswith(
        "the same image is labelled 'square' at square/01.png (similarity 0.9"
    )


# --- the thumbnail and the similarity ---------------------------------------------------------


def test_the_thumbnail_is_the_same_for_a_colour_image_and_its_gray_copy() -> None:
    colour = flat_shape(1, "hexagon")
    assert len(thumbnail(colour)) == 256
    assert thumbnail(colour) == thumbnail(colour.convert("L"))


def test_two_flat_images_of_different_brightness_are_different_images() -> None:
    flat = np.stack([np.full((16, 16), level, np.uint8) for level in (40, 40, 90)])
    score = similarities(flat, np.array([[32, 32]] * 3), np.array([[0, 1], [0, 2]]))
    assert score.tolist() == [1.0, 0.0]


def test_equal_sizes_are_judged_strictly_and_a_resized_file_leniently() -> None:
    rng = np.random.default_rng(0)
    thumb = rng.integers(0, 256, size=(16, 16)).astype(np.float64)
    noisy = np.clip(thumb + rng.normal(0, 12, size=thumb.shape), 0, 255)  # residual RMS ~0.15
    thumbs = np.stack([thumb, noisy]).astype(np.uint8)
    pair = np.array([[0, 1]])
    assert similarities(thumbs, np.array([[32, 32], [32, 32]]), pair)[0] < 0.9
    assert similarities(thumbs, np.array([[32, 32], [48, 48]]), pair)[0] >= 0.9


def test_a_similarity_threshold_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"near_threshold=1.5 must be between 0 and 1"):
        NearRule(threshold=1.5)
    with pytest.raises(ValueError, match=r"near_threshold=-0.1 must be between 0 and 1"):
        CheckConfig(near_threshold=-0.1)


def test_stored_thumbnails_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match=r"256 bytes each \(512 hex digits\)"):
        thumbnails_array(["00" * 255])


def test_a_resized_copy_keeps_only_its_closest_original() -> None:
    # x and y are distinct images of one size (y is x plus noise: too far apart for equal sizes);
    # the resized copy of x is within the resampling allowance of both, and closer to x.
    rng = np.random.default_rng(5)
    x = rng.integers(20, 236, size=(16, 16)).astype(np.float64)
    y, copy = x + rng.normal(0, 9, size=x.shape), x + rng.normal(0, 3, size=x.shape)
    thumbs = np.clip(np.stack([x, y, copy]), 0, 255).astype(np.uint8)
    sizes = np.array([[28, 28], [28, 28], [40, 40]])
    candidates = np.array([[0, 1], [0, 2], [1, 2]])
    assert (similarities(thumbs, sizes, candidates) >= 0.9).tolist() == [False, True, True]
    same, _ = verify_candidates(thumbs, sizes, candidates)
    assert same.tolist() == [False, True, False]
    # When x and y are verified alike (y another size: resampled), the copy keeps both links.
    sizes[1] = [20, 20]
    assert verify_candidates(thumbs, sizes, candidates)[0].tolist() == [True, True, True]


# --- the search -------------------------------------------------------------------------------


def test_near_pairs_finds_exactly_the_pairs_within_the_radius() -> None:
    rng = np.random.default_rng(3)
    # 12 set bits at most: many hashes share bands, so long runs are compared in tiles too
    hashes = np.unique(rng.integers(0, 2**12, size=3000, dtype=np.uint64) << np.uint64(20))
    for radius in (1, 3, 6):
        distance = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
        expected = np.argwhere(np.triu(distance <= radius, 1))
        assert np.array_equal(near_pairs(hashes, radius=radius), expected), radius


def test_images_with_equal_hashes_are_candidates_and_verified_apart() -> None:
    # A black and a gray flat image share both hashes; the thumbnails tell them apart.
    black, gray = np.zeros((16, 16), np.uint8), np.full((16, 16), 90, np.uint8)
    manifest = pd.DataFrame(
        {
            "path": ["a.png", "b.png"],
            "error": "",
            "sha256": ["1", "2"],
            "width": 16,
            "height": 16,
            "phash": "0" * 16,
            "dhash": "0" * 16,
            "thumb": [black.tobytes().hex(), gray.tobytes().hex()],
        }
    )
    assert candidate_pairs(np.zeros(2, np.uint64), np.zeros(2, np.uint64)).tolist() == [[0, 1]]
    assert duplicate_groups(manifest).empty


def test_identical_thumbnails_of_any_size_are_linked_once_each_not_pairwise() -> None:
    # 300 blank pages of 300 sizes: one group, joined by 299 links rather than 44,850 comparisons.
    white = np.full((16, 16), 255, np.uint8).tobytes().hex()
    manifest = pd.DataFrame(
        {
            "path": [f"{k:03d}.png" for k in range(300)],
            "error": "",
            "sha256": [str(k) for k in range(300)],
            "width": np.arange(300) + 100,
            "height": 140,
            "phash": "0" * 16,
            "dhash": "0" * 16,
            "thumb": white,
        }
    )
    pairs, scores = verified_pairs(manifest)
    assert len(pairs) == 299 and set(scores) == {1.0}
    assert set(duplicate_groups(manifest)["near_group"]) == {"000.png"}


def test_with_duplicate_groups_gives_each_member_its_best_similarity(planted) -> None:
    manifest = scan(planted[0], jobs=1)
    grouped = with_duplicate_groups(manifest, CheckConfig()).set_index("path")
    original, copy = planted[1]["gray_to_rgb"]
    assert grouped.loc[original, "near_group"] == grouped.loc[copy, "near_group"] == original
    assert grouped.loc[copy, "similarity"] == 1.0  # the same luma: identical thumbnails
    assert grouped.loc["glyph_0/00.png", "similarity"] == 0.0


def test_no_thumbnails_and_no_candidates_give_no_similarities() -> None:
    # A dataset without a readable image has no thumbnail to compare (validate then says no_images).
    none = similarities(np.zeros((0, 16, 16), np.uint8), np.zeros((0, 2)), np.zeros((0, 2), np.int64))
    assert none.shape == (0,)


# --- the second look at detail (files of equal size) ------------------------------------------


def plain_object(seed: int, level: float = 160.0) -> Image.Image:
    """A plain object on black, 28 px gray: one outline for every seed, a faint texture of its own."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    inside = (np.abs(xx - 13.5) < 8) & (yy > 4) & (yy < 24)
    coarse = rng.normal(0, 1, (5, 5)).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse, mode="F").resize((28, 28), Image.Resampling.BICUBIC))
    pixels = inside * (level + 12 * texture / texture.std() + rng.normal(0, 1.5, (28, 28)))
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))


def test_two_plain_objects_of_one_outline_pass_the_thumbnails_but_not_the_second_look() -> None:
    a, b = plain_object(1), plain_object(2, level=150)
    thumbs = np.stack([np.frombuffer(thumbnail(im), np.uint8).reshape(16, 16) for im in (a, b)])
    assert similarities(thumbs, np.array([[28, 28], [28, 28]]), np.array([[0, 1]]))[0] >= 0.9
    assert detail_similarity(np.asarray(a), np.asarray(b)) < 0.9


def test_look_alike_plain_objects_under_two_labels_are_no_label_conflict(tmp_path: Path) -> None:
    images = {
        f"{label}/{k:02d}.png": plain_object(10 * k + i)
        for i, label in enumerate(("bag", "coat"))
        for k in range(12)
    }
    findings = validate(write_images(tmp_path, images)).table
    assert not findings["check"].isin(["label_conflict", "near_duplicate"]).any()


def test_a_jpeg_copy_of_a_plain_object_is_found_at_its_own_size(tmp_path: Path) -> None:
    images = {f"bag/{k:02d}.png": plain_object(k) for k in range(12)}
    images["bag/copy.jpg"] = images["bag/03.png"]  # saved as JPEG at quality 75
    findings = validate(write_images(tmp_path, images)).table
    near = findings[findings["check"] == "near_duplicate"].set_index("path")
    assert sorted(near.index) == ["bag/03.png", "bag/copy.jpg"]
    assert "28x28 pixels compared" in near.loc["bag/copy.jpg", "detail"]


def test_without_the_files_only_the_thumbnails_are_compared_and_the_finding_says_so(tmp_path: Path) -> None:
    images = {f"bag/{k:02d}.png": plain_object(k) for k in range(12)}
    images["bag/copy.jpg"] = images["bag/03.png"]
    manifest = scan(write_images(tmp_path, images), jobs=1)
    manifest.attrs.pop("root")  # a manifest read from a CSV: no files to decode again
    grouped = duplicate_groups(manifest).set_index("path")
    assert grouped.loc["bag/copy.jpg", "compared"] == "16x16 thumbnails"


def test_the_second_look_compares_images_of_one_size_only() -> None:
    with pytest.raises(ValueError, match="images of one size"):
        detail_similarity(np.zeros((28, 28), np.uint8), np.zeros((32, 32), np.uint8))


def product(colour: tuple[int, int, int], scale: float = 1.0) -> np.ndarray:
    """A flat object in one colour on black, 32 px RGB, with a faint shading: `scale` edits brightness."""
    pixels = np.zeros((32, 32, 3))
    pixels[6:26, 10:22] = colour
    pixels[6:26, 10:22] *= np.linspace(0.9, 1.0, 12)[None, :, None]
    return np.clip(np.round(pixels * scale), 0, 255).astype(np.uint8)


def test_colour_objects_of_one_shape_but_another_hue_are_told_apart_and_an_edit_is_not() -> None:
    red, green = product((200, 60, 50)), product((60, 190, 70))
    assert detail_similarity(red, green) == 0.0  # in luma alone they are one object, brightened
    assert detail_similarity(red, product((200, 60, 50), scale=1.15)) >= 0.95
