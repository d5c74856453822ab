"""From a dataset folder to training-ready data: scan, split, decode once (for the training commands)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasize.dataset.duplicates import DEFAULT_NEAR_RADIUS
from datasize.dataset.manifest import Progress, scan
from datasize.dataset.splits import SplitResult, read_split, split
from datasize.dataset.thumbnails import DEFAULT_NEAR_THRESHOLD
from datasize.training.backbones import Backbone, backbone_spec
from datasize.training.batches import TrainData, train_data
from datasize.training.cache import ImageCache, Resize, build_cache, manifest_fingerprint
from datasize.training.features import FeatureCache, build_feature_cache

Check = Callable[[pd.DataFrame, SplitResult | None], None]  # (manifest, the split file read, if any)


@dataclass(frozen=True)
class Prepared:
    """A scanned dataset with its fixed split and its decoded images."""

    root: str  # dataset root
    manifest: pd.DataFrame = field(repr=False)
    split: SplitResult = field(repr=False)
    cache: ImageCache = field(repr=False)
    data: TrainData = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: counts, split method, seed and fingerprints, cache size."""
        info = self.split.info
        readable = self.manifest[self.manifest["error"] == ""]
        return {
            "root": self.root,
            "images": len(self.manifest),
            "unreadable": int((self.manifest["error"] != "").sum()),
            "classes": list(self.data.classes),
            "n_train": len(self.data.train),
            "n_valid": len(self.data.valid),
            "split_method": info.get("method"),
            "split_seed": info.get("seed"),
            "split_fingerprint": self.split.fingerprint,
            "images_fingerprint": manifest_fingerprint(readable),  # the readable images' paths and contents
            "size": self.cache.size,
            "resize": str(self.cache.resize),
            "channels": self.image_channels,
        } | ({"features": self.cache.describe()} if isinstance(self.cache, FeatureCache) else {})

    @property
    def image_channels(self) -> int:
        """Channels of the images as the model sees them (a frozen body's features have their own width)."""
        return self.cache.image_channels if isinstance(self.cache, FeatureCache) else self.cache.channels


def prepare(
    data: str | os.PathLike,
    *,
    split_file: str | os.PathLike | None = None,
    valid_pct: float = 0.2,
    split_seed: int = 42,
    split_method: str | None = None,
    near_radius: int = DEFAULT_NEAR_RADIUS,
    near_threshold: float = DEFAULT_NEAR_THRESHOLD,
    size: int | None = None,
    resize: Resize | str = Resize.SQUISH,
    channels: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    decode_progress: Progress | None = None,
    check: Check | None = None,
    backbone: Backbone | None = None,
    device: str = "auto",
    **scan_options: Any,
) -> Prepared:
    """Scan `data`, fix the split (read from `split_file`, or made with `datasize.split`), decode once.

    Args:
        data: the dataset folder (see `scan`; `scan_options` pass through).
        split_file: a split written by `datasize split`; its fingerprint is checked.
        valid_pct, split_seed, split_method, near_radius, near_threshold: how to split when no
            `split_file` is given (a split the dataset itself gives, train/ and valid/ folders or a
            split column, is kept); see `datasize.split`.
        size, resize, channels, cache_dir: see `build_cache`.
        backbone: the pretrained backbone the data is for (`TrainConfig.backbone`): its native size
            unless `size` is given, RGB, and with `backbone.frozen` the body's features computed
            once on `device` (`build_feature_cache`, kept in `cache_dir` and resumed) instead of images.
        check: called with the manifest and the split file (None without one) once the dataset is
            scanned, before anything is split or decoded: the pipeline validates there, and may stop.
    """
    manifest = scan(data, jobs=jobs, progress=progress, **scan_options)
    given = None
    if split_file is not None:
        given = read_split(split_file)
        unknown = sorted(set(given.table["path"]) - set(manifest["path"]))
        if unknown:
            raise ValueError(
                f"the split {str(split_file)!r} names {len(unknown)} images not in the dataset, e.g. "
                f"{unknown[0]!r}: a split of another dataset (or of an older version of this one)"
            )
    if check is not None:
        check(manifest, given)
    fixed = given or split(
        manifest,
        method=split_method,
        valid_pct=valid_pct,
        seed=split_seed,
        near_radius=near_radius,
        near_threshold=near_threshold,
    )
    where = {"root": data, "resize": resize, "cache_dir": cache_dir, "jobs": jobs}
    where["progress"] = decode_progress
    cache: ImageCache
    if backbone is None:
        cache = build_cache(manifest, size=size, channels=channels, **where)
    elif backbone.frozen:
        cache = build_feature_cache(manifest, backbone=backbone, size=size, device=device, **where)
    else:
        native = backbone_spec(backbone.name)
        cache = build_cache(manifest, size=size or (native.size if native else None), channels=3, **where)
    return Prepared(
        root=str(data), manifest=manifest, split=fixed, cache=cache, data=train_data(cache, fixed.table)
    )
