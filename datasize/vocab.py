"""The vocabularies datasize speaks: one StrEnum each, and the lists and docs derive from them."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is; `--fail-on` compares against this order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Check(StrEnum):
    """Every check `validate` runs, with its default severity and a one-line description."""

    # per image
    EMPTY_FILE = "empty_file"
    UNREADABLE = "unreadable"
    TRUNCATED = "truncated"
    FORMAT_MISMATCH = "format_mismatch"
    UNUSUAL_MODE = "unusual_mode"
    ANIMATED = "animated"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    EXTREME_ASPECT = "extreme_aspect"
    DECOMPRESSION_BOMB = "decompression_bomb"
    LINK_OUTSIDE_ROOT = "link_outside_root"
    SKIPPED_FILE = "skipped_file"
    # across images
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    LABEL_CONFLICT = "label_conflict"
    SPLIT_LEAKAGE = "split_leakage"
    # the table (Great Expectations)
    NO_IMAGES = "no_images"
    SINGLE_CLASS = "single_class"
    MANIFEST_SCHEMA = "manifest_schema"
    EMPTY_CLASS = "empty_class"
    SMALL_CLASS = "small_class"
    CLASS_IMBALANCE = "class_imbalance"
    LABEL_VARIANTS = "label_variants"
    UNKNOWN_LABEL = "unknown_label"

    @property
    def severity(self) -> Severity:
        return CHECK_INFO[self][0]

    @property
    def description(self) -> str:
        return CHECK_INFO[self][1]


E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO
CHECK_INFO: dict[Check, tuple[Severity, str]] = {
    Check.EMPTY_FILE: (E, "the file has zero bytes"),
    Check.UNREADABLE: (E, "the file cannot be opened or is not an image"),
    Check.TRUNCATED: (E, "the image data ends early or is corrupt"),
    Check.FORMAT_MISMATCH: (W, "the content's format differs from the file extension"),
    Check.UNUSUAL_MODE: (W, "CMYK, 16-bit, palette, alpha or other unusual pixel modes"),
    Check.ANIMATED: (N, "the image has several frames; only the first is used"),
    Check.TOO_SMALL: (W, "the image is far smaller than the rest of the dataset"),
    Check.TOO_LARGE: (W, "the image is far larger than the rest of the dataset"),
    Check.EXTREME_ASPECT: (W, "the image is extremely wide or tall"),
    Check.DECOMPRESSION_BOMB: (E, "the image declares more pixels than allowed; refused undecoded"),
    Check.LINK_OUTSIDE_ROOT: (E, "a link points outside the dataset root; not followed"),
    Check.SKIPPED_FILE: (N, "a hidden, system or non-image file was skipped"),
    Check.EXACT_DUPLICATE: (W, "byte-identical copies of one file"),
    Check.NEAR_DUPLICATE: (W, "visually near-identical images (hash candidates verified on thumbnails)"),
    Check.LABEL_CONFLICT: (E, "one image (exact or near copy) under two labels"),
    Check.SPLIT_LEAKAGE: (E, "the same image (exact or near copy) in train and validation"),
    Check.NO_IMAGES: (E, "the dataset holds no readable image"),
    Check.SINGLE_CLASS: (E, "the dataset has a single class; a classifier needs two or more"),
    Check.MANIFEST_SCHEMA: (E, "the manifest table breaks its schema (missing label, repeated path)"),
    Check.EMPTY_CLASS: (W, "a class folder holds no images"),
    Check.SMALL_CLASS: (W, "a class has too few images to train and validate on"),
    Check.CLASS_IMBALANCE: (W, "a class is much rarer than the largest class"),
    Check.LABEL_VARIANTS: (W, "label names that differ only in case, spacing or punctuation"),
    Check.UNKNOWN_LABEL: (E, "a label that the saved suite does not know"),
}
del E, W, N


class Split(StrEnum):
    """The two sides of a validation split."""

    TRAIN = "train"
    VALID = "valid"


class SplitMethod(StrEnum):
    """How `split` decides which images go to validation (`datasize split --method`)."""

    RANDOM = "random"  # a seeded draw over all images
    STRATIFIED = "stratified"  # each class keeps its share of validation images, within one image
    GROUP = "group"  # whole groups (patient, camera, session) on one side, stratified where they allow
    HASH = (
        "hash"  # each image's side from a keyed hash of its path: adding images moves none (copies: split.py)
    )
    GIVEN = "given"  # the dataset's own split (train/ and valid/ folders or a split column), kept


class DiagnosisKind(StrEnum):
    """What a run's diagnosis can find, in order of importance (overconfident overfitting aside: it
    only hurts the loss, so it comes after too few epochs)."""

    LR_TOO_HIGH = "lr_too_high"
    AT_CHANCE = "at_chance"  # no better than a blind guess: nothing was measured, whatever else is found
    LR_TOO_LOW = "lr_too_low"
    OVERFITTING = "overfitting"
    TOO_FEW_EPOCHS = "too_few_epochs"
    OK = "ok"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    DiagnosisKind.LR_TOO_HIGH: "Learning rate too high",
    DiagnosisKind.AT_CHANCE: "No better than guessing",
    DiagnosisKind.LR_TOO_LOW: "Learning rate too low",
    DiagnosisKind.OVERFITTING: "Overfitting",
    DiagnosisKind.TOO_FEW_EPOCHS: "Too few epochs",
    DiagnosisKind.OK: "Training looks healthy",
}


class OverfitType(StrEnum):
    """How a run overfits (fastbook ch. 5: the loss worsens first, the error later)."""

    OVERCONFIDENT = "overconfident"  # only the validation loss rose; the error stayed within noise
    MEMORISING = "memorising"  # the validation error rose beyond noise as well


class AnswerKind(StrEnum):
    """The four answers to "do I need more images?": the first sentence of every verdict says one."""

    ENOUGH = "enough"  # the images at hand already do it (an error at zero, or the target met)
    MORE_HELPS = "more_helps"  # more images of the same kind cut the error: by how much, how many
    PLATEAU = "plateau"  # more of the same will not help; labels, training or the model would
    CANNOT_TELL = "cannot_tell"  # these runs cannot decide; one thing named would tell
