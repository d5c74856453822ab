"""A frozen body's pooled features, computed once per image: what every frozen-body run trains on.

With the body frozen, in eval mode and without augmentation, each image's pooled feature vector never
changes, so fastai's first stage (the head alone learning) can train on vectors: one forward pass
per image, then every run of a curve, every fold of `labels` and every step of the LR finder trains
the head in milliseconds. What differs from fastai's frozen stage: the body's BatchNorm statistics
stay at their ImageNet values (fastai's `train_bn` updates them on the new data) and nothing is
augmented (benchmarks/bench_pretrained.py measures what that changes).

The features are stored like the decoded images (`FeatureCache` is an `ImageCache` whose "images" are
(n, features, 1, 1) float16 vectors), so the training loop, the curve's workers and the run folders
take them unchanged. In a cache folder they are a memory-mapped ``.npy`` named after the images'
fingerprint, the preprocessing, the backbone and its weights' hash; a pass cut short resumes from the
last chunk written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datasize.io import write_text_atomic
from datasize.training.backbones import Backbone, backbone_spec, make_body, weights_file, weights_sha256
from datasize.training.batches import TrainData, pick_device
from datasize.training.cache import ImageCache, Resize, decoded_chunks, load_stored, plan_cache

Progress = Callable[[int, int], None]

FEATURE_FORMAT = 1
BODY_BATCH = 32  # images per forward pass of the body
INIT_SEED = 0  # a randomly initialised body (no --pretrained) is drawn from this seed: the same every time


@dataclass(frozen=True)
class FeatureCache(ImageCache):
    """`images[i]` is the body's pooled features of row i, shaped (features, 1, 1), float16."""

    backbone: Backbone  # the body that computed them
    weights_sha256: str | None  # of its weights file; None for a randomly initialised body
    image_channels: int  # the images went through the body as this many channels (3: RGB)

    def describe(self) -> dict[str, object]:
        """JSON-ready: the body, its weights and the preprocessing the features were computed with."""
        spec = backbone_spec(self.backbone.name)
        return {
            "model": self.backbone.name,
            "pretrained": self.weights_sha256 is not None,
            "weights_sha256": self.weights_sha256,
            "features": int(self.images.shape[1]),
            "size": self.size,
            "resize": str(self.resize),
            "mean": list(spec.mean) if spec else None,
            "std": list(spec.std) if spec else None,
            "batchnorm": "ImageNet statistics, fixed",
        }


def build_feature_cache(
    manifest: pd.DataFrame,
    *,
    root: str | os.PathLike,
    backbone: Backbone,
    size: int | None = None,
    resize: Resize | str = Resize.SQUISH,
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> FeatureCache:
    """Every readable image through the frozen body once (or the features stored earlier in `cache_dir`).

    Args:
        manifest: from `scan`; rows with an `error` are left out.
        root: the dataset root.
        backbone: the body and its weights (`backbone.frozen` need not be set).
        size: input resolution (default: the backbone's native one); resize: squish, crop or pad.
        cache_dir: keep the features here as a memory-mapped file, reused and resumed; None: in memory.
        jobs: decoding processes; device: where the body runs.
        progress: ``progress(done, total)`` in images.
    """
    spec = backbone_spec(backbone.name)
    if spec is None:
        raise ValueError(f"a frozen body needs a pretrained backbone datasize builds, not {backbone.name!r}")
    plan = plan_cache(manifest, root=root, size=size or spec.size, resize=resize, channels=3)
    path = weights_file(backbone.name, backbone.weights) if backbone.loads_weights else None
    sha = weights_sha256(path) if path is not None else None
    key = f"{plan.key}-{backbone.name}-{sha[:16] if sha else 'random'}-features-v{FEATURE_FORMAT}"
    shape = (len(plan.paths), spec.features, 1, 1)

    def made(features: np.ndarray, decoded: int) -> FeatureCache:
        return FeatureCache(
            features,
            plan.paths,
            plan.labels,
            plan.spec.size,
            plan.spec.resize,
            key,
            decoded,
            backbone=backbone,
            weights_sha256=sha,
            image_channels=3,
        )

    folder = Path(cache_dir) if cache_dir is not None else None
    stored = load_stored(folder, key, shape, np.float16) if folder is not None else None
    if stored is not None:
        return made(stored, 0)
    place = pick_device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        body = make_body(backbone.name, pretrained=path is not None, weights=path, size=plan.spec.size)
    body = body.to(place).eval()
    mean, inv_std = _scaling(backbone, place)
    if folder is None:
        out, done = np.empty(shape, dtype=np.float16), 0
    else:
        out, done = _resumable(folder, key, shape)
    for start, block in decoded_chunks(list(plan.paths), plan.spec, jobs=jobs, progress=progress, start=done):
        out[start : start + len(block), :, 0, 0] = _forward(body, block, mean, inv_std, place)
        if folder is not None:
            out.flush()
            write_text_atomic(folder / f"{key}.rows", f"{start + len(block)}\n")
    features = out if folder is None else _finish(folder, key, out)
    return made(features, len(plan.paths) - done)


def _scaling(backbone: Backbone, place: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and inverse std (0..255 scale, RGB) the backbone's weights expect, on `place`."""
    spec = backbone_spec(backbone.name)
    mean = torch.tensor(spec.mean, device=place).view(1, 3, 1, 1)
    return mean, 1.0 / torch.tensor(spec.std, device=place).view(1, 3, 1, 1)


@torch.inference_mode()
def _forward(
    body: torch.nn.Module, images: np.ndarray, mean: torch.Tensor, inv_std: torch.Tensor, place: torch.device
) -> np.ndarray:
    out = []
    for first in range(0, len(images), BODY_BATCH):
        x = torch.from_numpy(np.ascontiguousarray(images[first : first + BODY_BATCH])).to(place).float()
        x = ((x - mean) * inv_std).contiguous(memory_format=torch.channels_last)
        out.append(body(x).float().cpu())
    return torch.cat(out).numpy().astype(np.float16)


def _resumable(folder: Path, key: str, shape: tuple[int, ...]) -> tuple[np.memmap, int]:
    """The partial file and how many rows it holds: a pass cut short goes on from its last chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    partial, rows = folder / f"{key}.partial.npy", folder / f"{key}.rows"
    if partial.exists() and rows.exists():
        try:
            features = np.load(partial, mmap_mode="r+")
            done = int(rows.read_text().strip())
            if features.shape == shape and features.dtype == np.float16 and 0 <= done <= shape[0]:
                return features, done
        except (ValueError, OSError):
            pass  # unreadable: start over
    rows.unlink(missing_ok=True)
    features = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=shape)
    return features, 0


def _finish(folder: Path, key: str, features: np.memmap) -> np.ndarray:
    features.flush()
    del features
    os.replace(folder / f"{key}.partial.npy", folder / f"{key}.npy")
    # The marker is written last: a features file without it is never trusted.
    write_text_atomic(folder / f"{key}.done", "features\n")
    (folder / f"{key}.rows").unlink(missing_ok=True)
    return np.load(folder / f"{key}.npy", mmap_mode="r")


def body_seconds_per_image(images: ImageCache, backbone: Backbone, *, device: str = "auto") -> float:
    """This machine's seconds per image of the frozen body's forward pass, timed on one batch of
    decoded `images` (at the backbone's size, RGB) after an untimed one."""
    place = pick_device(device)
    body = make_body(backbone.name, size=images.size).to(place).eval()  # random weights: the same cost
    mean, inv_std = _scaling(backbone, place)
    batch = np.asarray(images.images[: min(BODY_BATCH, len(images.paths))])
    _forward(body, batch[:2], mean, inv_std, place)
    start = time.perf_counter()
    _forward(body, batch, mean, inv_std, place)
    return (time.perf_counter() - start) / len(batch)


def stand_in_features(data: TrainData, backbone: Backbone) -> TrainData:
    """`data` with zero features of a frozen body's shape in place of its images: what timing the
    head's steps needs before the features exist."""
    cache, features = data.cache, backbone_spec(backbone.name).features
    stand_in = FeatureCache(
        np.zeros((len(cache.paths), features, 1, 1), dtype=np.float16),
        cache.paths, cache.labels, cache.size, cache.resize, cache.key, 0,
        backbone=backbone, weights_sha256=None, image_channels=3,
    )  # fmt: skip
    return replace(data, cache=stand_in)
