"""What a training run trains on, and how its batches are cut: the split joined to the image cache
(`TrainData`), the training images' normalisation, the device and its arithmetic, and the `Batcher`
that cuts normalised, augmented float batches from the uint8 cache as whole tensors.

`datasize.training.loop` runs the training loop over these.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from datasize.training.cache import ImageCache

EVAL_BATCH = 64  # images per evaluation batch at most (see eval_batch_size)


class Precision(StrEnum):
    """The arithmetic of forward passes (weights, gradients and the optimiser stay fp32)."""

    FP32 = "fp32"
    BF16 = "bf16"  # bfloat16 autocast: faster on CPUs with AVX512-BF16/AMX and on recent GPUs
    AUTO = "auto"  # bf16 where the device has it natively (`native_bf16`), else fp32; resolved
    #   when the TrainConfig is made, so records, resumes and workers see the precision that ran


class Augment(StrEnum):
    """Light augmentation applied to whole batches as tensor ops."""

    NONE = "none"
    SHIFT = "shift"  # random translation by up to 1/8 of the side (zero padding)
    FLIP = "flip"  # random horizontal flip
    FLIP_SHIFT = "flip+shift"


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present (for "auto"), else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"device {name!r} is not a torch device (use auto, cpu, cuda, cuda:N or mps)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(
            f"device {name!r} asked for, but this machine has {count} CUDA device(s): cuda:0-{count - 1}"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} asked for, but Apple's MPS is not available on this machine")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r} is not supported (use auto, cpu, cuda, cuda:N or mps)")
    return device


def native_bf16(device: str = "auto") -> bool:
    """Whether `device` computes in bfloat16 natively: an x86 CPU with AVX512-BF16 or AMX, another
    CPU whose oneDNN reports bf16 support, a CUDA GPU without emulation. False for a device that is
    not there. (oneDNN's own query says yes for any AVX-512 CPU, where bf16 is emulated and slower.)

    On such a CPU bf16 curves took 0.69-0.71x the time of fp32, every size's mean error within one
    standard error (of the difference) of fp32's, on three datasets (`benchmarks/bench_precision.py`).
    """
    try:
        place = pick_device(device)
    except ValueError:
        return False
    if place.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if place.type != "cpu":
        return False
    try:
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without these queries: assume not
        return False


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's threads set to `threads` while the block runs (None: left as they are), then restored,
    so that a run in the caller's process leaves the caller's setting as it was."""
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class TrainData:
    """Training and validation rows of an image cache, with integer targets."""

    cache: ImageCache
    train: np.ndarray  # cache row indices of the training images
    valid: np.ndarray  # cache row indices of the validation images
    classes: tuple[str, ...]  # class names; target k is classes[k]
    targets: np.ndarray  # target of every cache row (int64), -1 for labels outside `classes`

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def train_data(cache: ImageCache, split: pd.DataFrame) -> TrainData:
    """Join a split table (path, split) to the cache; classes are the training labels, sorted.

    Validation images whose label never occurs in training cannot be predicted; they are an error.
    """
    missing = {"path", "split"} - set(split.columns)
    if missing:
        raise ValueError(f"the split table needs columns 'path' and 'split'; missing {sorted(missing)}")
    sides = dict(zip(split["path"], split["split"], strict=True))
    rows = np.arange(len(cache.paths))
    side = np.array([sides.get(p, "") for p in cache.paths])
    train, valid = rows[side == "train"], rows[side == "valid"]
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(
            f"the split has {len(train)} training and {len(valid)} validation images; both must be > 0"
        )
    labels = np.array(cache.labels, dtype=object)
    classes = tuple(sorted(set(labels[train])))
    if len(classes) < 2:
        raise ValueError(f"the training images have {len(classes)} class; at least 2 are needed")
    unseen = sorted(set(labels[valid]) - set(classes))
    if unseen:
        raise ValueError(f"validation labels {unseen} have no training images; they cannot be learned")
    index = {c: k for k, c in enumerate(classes)}
    targets = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
    return TrainData(cache=cache, train=train, valid=valid, classes=classes, targets=targets)


@dataclass(frozen=True)
class Normalizer:
    """Per-channel mean and std of the training images (0..255 scale)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, images: np.ndarray, rows: np.ndarray, chunk_bytes: int = 32 << 20) -> Normalizer:
        # Chunks of at most `chunk_bytes` as float64: the peak stays small whatever the image size.
        chunk = max(1, chunk_bytes // (8 * int(np.prod(images.shape[1:]))))
        total = np.zeros(images.shape[1])
        squares = np.zeros(images.shape[1])
        for start in range(0, len(rows), chunk):
            block = images[np.sort(rows[start : start + chunk])].astype(np.float64)
            total += block.sum(axis=(0, 2, 3))
            squares += (block**2).sum(axis=(0, 2, 3))
        count = len(rows) * images.shape[2] * images.shape[3]
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 1e-6))
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    def pooled(self) -> Normalizer:
        """One mean and std over all channels, the same for each: keeps the channels' relative scales.

        For a frozen body's features: standardising each of 1,280 features alone blows up the ones
        that barely vary. A linear head on the pooled scaling was better on both sets measured (8
        epochs, lr 3e-3 and 1e-2, batch 8 and 64): stripes and checks, 38 images, 0 of 10 wrong against
        2-4 of 10; the 8x8 digits at 64 px, 2.8-4.5% error against 5.3-6.1%.
        """
        mean = float(np.mean(self.mean))
        square = float(np.mean(np.square(self.std) + np.square(self.mean)))
        std = float(np.sqrt(max(square - mean**2, 1e-6)))
        return Normalizer((mean,) * len(self.mean), (std,) * len(self.std))


class Batcher:
    """Cuts float batches from the uint8 cache, normalised and augmented as whole tensors."""

    def __init__(
        self,
        data: TrainData,
        norm: Normalizer,
        device: torch.device,
        augment: Augment,
        precision: Precision = Precision.FP32,
        batch_size: int = 64,
    ) -> None:
        self.images = data.cache.images
        self.precision = Precision(precision)
        self.eval_batch = eval_batch_size(batch_size, device, data.cache.size)
        self.targets = torch.from_numpy(data.targets)
        self.device = device
        self.augment = augment
        self.norm = norm
        shape = (1, len(norm.mean), 1, 1)
        self.mean = torch.tensor(norm.mean, dtype=torch.float32, device=device).view(shape)
        self.inv_std = (1.0 / torch.tensor(norm.std, dtype=torch.float32, device=device)).view(shape)

    def autocast(self) -> Any:
        """The context forward passes run in: bfloat16 autocast, or nothing for fp32."""
        enabled = self.precision == Precision.BF16
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def inputs(self, rows: np.ndarray) -> torch.Tensor:
        raw = torch.from_numpy(np.ascontiguousarray(self.images[rows]))
        x = raw.to(self.device, non_blocking=True).float()
        return ((x - self.mean) * self.inv_std).contiguous(memory_format=torch.channels_last)

    def train_batch(self, rows: np.ndarray, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs(rows)
        if self.augment in (Augment.FLIP, Augment.FLIP_SHIFT):
            flip = (torch.rand(len(rows), generator=generator) < 0.5).to(self.device).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        if self.augment in (Augment.SHIFT, Augment.FLIP_SHIFT):
            x = random_shift(x, generator)
        return x, self.targets[rows].to(self.device, non_blocking=True)


def shuffled_batches(rows: np.ndarray, n_batches: int, generator: torch.Generator) -> list[np.ndarray]:
    """`rows` in a seeded random order, cut into `n_batches` batches of near-equal size (one epoch)."""
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    return np.array_split(order, n_batches)


def random_shift(x: torch.Tensor, generator: torch.Generator, fraction: float = 0.125) -> torch.Tensor:
    """Translate each image by its own random offset of up to `fraction` of the side; zero fill."""
    n, _, h, w = x.shape
    pad = max(1, round(min(h, w) * fraction))
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    # Every h x w window of the padded images, as a view (n, c, 2*pad+1, 2*pad+1, h, w); pick one each.
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)
    picked = windows[torch.arange(n, device=x.device), :, offsets[0], offsets[1]]
    return picked.contiguous(memory_format=torch.channels_last)


def eval_batch_size(train_batch: int, device: torch.device | str = "cpu", side: int = 16) -> int:
    """Images per evaluation batch: on a CPU the training batch, at most EVAL_BATCH; elsewhere up to
    512 (fewer for larger images), never under the training batch.

    On the CPUs measured, batches above 64 were not faster per image and mostly slower: their
    activations leave the caches and are fresh memory each pass. The small CNN per 1,024 images,
    3 channels (ms, batch 64/128/256/512): 16 px 88/84/83/113, 32 px 317/337/521/559, 64 px
    1729/2059/2358/2451. A training batch smaller than EVAL_BATCH is kept: it is what the user's
    memory allows. On a GPU large batches keep it busy; their activations scale with the pixels.

    >>> eval_batch_size(64), eval_batch_size(256), eval_batch_size(16)
    (64, 64, 16)
    >>> eval_batch_size(64, "cuda", 16), eval_batch_size(64, "cuda", 64)
    (512, 64)
    """
    if torch.device(device).type == "cpu":
        return min(train_batch, EVAL_BATCH)
    return max(train_batch, min(512, 512 * 256 // (side * side)))
