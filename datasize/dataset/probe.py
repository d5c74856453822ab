"""Probe one image file: facts for the manifest, read once, decoded at most once, never modified.

Runs inside worker processes, so it imports only Pillow, numpy and `thumbnails` (which imports only
those two) and returns plain dicts.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from datasize.dataset.thumbnails import DETAIL_SIDE, thumbnail
from datasize.vocab import Check

# Pillow's own default limit (about 89 megapixels); anything larger is refused before decoding.
DEFAULT_MAX_PIXELS = 89_478_485

# The format Pillow reports for each extension we accept as an image.
EXTENSION_FORMATS: dict[str, tuple[str, ...]] = {
    ".jpg": ("JPEG", "MPO"),
    ".jpeg": ("JPEG", "MPO"),
    ".jpe": ("JPEG", "MPO"),
    ".png": ("PNG",),
    ".gif": ("GIF",),
    ".bmp": ("BMP", "DIB"),
    ".tif": ("TIFF",),
    ".tiff": ("TIFF",),
    ".webp": ("WEBP",),
    ".ppm": ("PPM",),
    ".pgm": ("PPM",),
    ".pbm": ("PPM",),
}
IMAGE_EXTENSIONS = frozenset(EXTENSION_FORMATS)

# Modes without colour: decoded for the second look as luma alone.
GRAY_MODES = frozenset({"L", "LA", "1", "I", "I;16", "I;16B", "I;16L", "F"})
# Modes a classifier reads without surprises; anything else gets an `unusual_mode` warning.
PLAIN_MODES = frozenset({"RGB", "L"})
MODE_REASONS = {
    "CMYK": "CMYK colour (print separation); colours shift when converted to RGB",
    "P": "palette image; colours come from a lookup table (and may include transparency)",
    "PA": "palette image with transparency",
    "RGBA": "has an alpha channel; transparent pixels hide content",
    "LA": "grayscale with an alpha channel",
    "I;16": "16-bit grayscale; most tools expect 8 bits",
    "I;16B": "16-bit grayscale; most tools expect 8 bits",
    "I;16L": "16-bit grayscale; most tools expect 8 bits",
    "I": "32-bit integer pixels",
    "F": "32-bit float pixels",
    "1": "1-bit black and white",
    "YCbCr": "YCbCr colour stored raw",
    "LAB": "CIE Lab colour",
    "HSV": "HSV colour",
}

_PNG_END = b"IEND\xaeB`\x82"
# C0 and C1 control characters: in a name or label printed to a terminal they could move the cursor,
# rewrite earlier lines or forge a finding, so such names are never rows and are shown escaped.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Room for metadata beyond the pixels in the largest file `max_file_bytes` lets through.
_METADATA_BYTES = 64 << 20

HASH_SIZE = 8  # 8x8 low-frequency DCT coefficients -> a 64-bit perceptual hash
_DCT_SIZE = 32


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(_DCT_SIZE)


@dataclass(frozen=True)
class ProbeOptions:
    """What `probe_file` needs besides the path; picklable for worker processes."""

    root: str  # dataset root; links that resolve outside it are refused
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are refused before decoding
    follow_links: bool = False  # follow links that resolve outside the root


def perceptual_hash(image: Image.Image) -> int:
    """64-bit DCT perceptual hash (pHash) of an image: robust to re-encoding, resizing, small edits."""
    gray = image if image.mode == "L" else image.convert("L")
    pixels = np.asarray(gray.resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.BILINEAR), dtype=np.float64)
    coeffs = (_DCT @ pixels @ _DCT.T)[:HASH_SIZE, :HASH_SIZE].ravel()
    median = np.median(coeffs[1:])  # the DC term says only "how bright", so leave it out
    bits = coeffs > median
    return int(np.packbits(bits).view(">u8")[0])


def difference_hash(image: Image.Image) -> int:
    """64-bit difference hash (dHash): signs of horizontal gradients on a 9x8 thumbnail."""
    gray = image if image.mode == "L" else image.convert("L")
    pixels = np.asarray(gray.resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = pixels[:, 1:] > pixels[:, :-1]
    return int(np.packbits(bits.ravel()).view(">u8")[0])


def _empty_record(rel: str) -> dict:
    return {
        "path": rel,
        "width": 0,
        "height": 0,
        "mode": "",
        "format": "",
        "n_frames": 0,
        "orientation": 0,
        "bytes": 0,
        "sha256": "",
        "phash": "",
        "dhash": "",
        "thumb": "",
        "error": "",
        "error_check": "",
    }


def _fail(record: dict, check: Check, reason: str) -> dict:
    record["error_check"] = str(check)
    record["error"] = reason
    return record


def printable_path(rel: str) -> str:
    """A path fit for UTF-8 output: bytes that are not UTF-8 and control characters as \\xNN escapes."""
    text = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def max_file_bytes(max_pixels: int) -> int:
    """The largest file an image within `max_pixels` can need; larger files are refused unread.

    8 bytes a pixel (16-bit RGBA, stored uncompressed) plus room for metadata: a huge or sparse file
    can then neither fill memory nor keep the scan reading for minutes.
    """
    return 8 * max_pixels + _METADATA_BYTES


def _link_problem(rel: str, options: ProbeOptions) -> tuple[Check, str] | None:
    """A link on the way to the file (the file itself or any folder above it) that must not be followed.

    Every component is checked, not only the last: a CSV path through a linked folder
    (``photos/more/x.png`` with ``more -> /elsewhere``) would otherwise read outside the root.
    """
    root = Path(options.root)
    current = root
    for part in PurePosixPath(rel).parts:
        current = current / part
        if not current.is_symlink():
            continue
        try:
            target = current.resolve(strict=True)
        except (OSError, RuntimeError):
            return Check.UNREADABLE, "broken or looping link"
        if not options.follow_links and not target.is_relative_to(root.resolve()):
            folder = printable_path(current.relative_to(root).as_posix())
            via = "" if current == root / rel else f" (through the folder link {folder})"
            where = printable_path(str(target))
            return Check.LINK_OUTSIDE_ROOT, f"link to {where} outside the dataset root{via}; not followed"
    return None


def probe_file(rel: str, options: ProbeOptions) -> dict:
    """Facts about one file under `options.root`; problems are recorded, never raised."""
    record = _empty_record(rel)
    try:
        data = read_file_checked(rel, options)
    except FileRefused as refused:
        record["bytes"] = refused.size
        return _fail(record, refused.check, str(refused))
    record["bytes"] = len(data)
    if not data:
        return _fail(record, Check.EMPTY_FILE, "zero-byte file")
    record["sha256"] = hashlib.sha256(data).hexdigest()
    return _probe_image(record, data, options)


def declared_pixels(error: Image.DecompressionBombError) -> int:
    """The pixel count an image declared, read from Pillow's refusal (0 if the message lacks it)."""
    declared = re.search(r"\((\d+) pixels\)", str(error))
    return int(declared.group(1)) if declared else 0


@contextlib.contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb guard set to our limit while the block runs.

    Pillow refuses (at `Image.open`) images over twice its `MAX_IMAGE_PIXELS` and warns above it;
    with it set to `max_pixels` a limit above Pillow's default is honoured, and the warning is
    silenced because the caller compares the declared size with `max_pixels` itself.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


class FileRefused(ValueError):
    """A file the probe's rules do not let us read: `check` says which rule, the message why."""

    def __init__(self, check: Check, reason: str, size: int = 0) -> None:
        super().__init__(reason)
        self.check = check
        self.size = size


def read_file_checked(rel: str, options: ProbeOptions) -> bytes:
    """The bytes of `rel` under `options.root`, read under the probe's rules; raises `FileRefused`.

    Refused: links out of the root (unless `follow_links`), broken or looping links, folders,
    pipes and devices (never opened), files larger than any image within `max_pixels` can be,
    and files that cannot be read.
    """
    link = _link_problem(rel, options)
    if link is not None:
        raise FileRefused(*link)
    try:
        info = Path(options.root, rel).stat()
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(Check.UNREADABLE, "a folder, not an image file")
        if not stat.S_ISREG(info.st_mode):
            # Opening a FIFO would block forever and a device never ends: never read them.
            raise FileRefused(Check.UNREADABLE, "not a regular file (a pipe, socket or device)")
        limit = max_file_bytes(options.max_pixels)
        if info.st_size > limit:
            raise FileRefused(
                Check.DECOMPRESSION_BOMB,
                f"file of {info.st_size:,} bytes is larger than any image within the limit of "
                f"{options.max_pixels:,} pixels needs ({limit:,} bytes); refused unread",
                info.st_size,
            )
        with open(Path(options.root, rel), "rb") as f:
            data = f.read(limit + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        if isinstance(exc, FileRefused):
            raise
        reason = getattr(exc, "strerror", None) or exc
        raise FileRefused(Check.UNREADABLE, f"cannot read file: {reason}") from None
    if len(data) > limit:  # it grew after the size check
        raise FileRefused(
            Check.DECOMPRESSION_BOMB, f"file is larger than {limit:,} bytes; refused", len(data)
        )
    return data


def _probe_image(record: dict, data: bytes, options: ProbeOptions) -> dict:
    with pixel_limit(options.max_pixels):
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            declared = declared_pixels(exc)
            size = f"{declared:,} pixels" if declared else "declared size"
            return _fail(
                record,
                Check.DECOMPRESSION_BOMB,
                f"{size} exceeds the limit of {options.max_pixels:,}; refused undecoded",
            )
        except UnidentifiedImageError:
            return _fail(record, Check.UNREADABLE, "not an image Pillow can identify")
        except Exception as exc:  # a malformed header can raise almost anything
            return _fail(record, Check.UNREADABLE, f"cannot parse image header: {exc}")
        with image:
            return _inspect_open_image(record, image, data[-16:], options)


def _inspect_open_image(record: dict, image: Image.Image, data_tail: bytes, options: ProbeOptions) -> dict:
    width, height = image.size
    record.update(width=width, height=height, mode=image.mode, format=image.format or "")
    if width * height > options.max_pixels:
        return _fail(
            record,
            Check.DECOMPRESSION_BOMB,
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{options.max_pixels:,}; refused undecoded",
        )
    record["n_frames"] = int(getattr(image, "n_frames", 1))
    try:
        record["orientation"] = int(image.getexif().get(0x0112, 1))
    except Exception:
        record["orientation"] = 1
    try:
        if image.format == "JPEG":
            # Decoding at 1/8 scale still reads every byte (so truncation shows) but costs far less.
            image.draft("L", (64, 64))
        image.load()
        if image.format == "PNG" and not data_tail.endswith(_PNG_END):
            raise OSError("PNG ends without its IEND chunk")
    except Exception as exc:
        return _fail(record, Check.TRUNCATED, f"image data is truncated or corrupt: {exc}")
    try:
        gray = image if image.mode == "L" else image.convert("L")  # one conversion for all three
        record["phash"] = f"{perceptual_hash(gray):016x}"
        record["dhash"] = f"{difference_hash(gray):016x}"
        record["thumb"] = thumbnail(gray).hex()  # for verifying near duplicates (`thumbnails`)
    except Exception as exc:  # decoded, but its pixel mode cannot become gray or RGB (LAB, say)
        return _fail(record, Check.UNREADABLE, f"mode {image.mode} cannot be converted to gray or RGB: {exc}")
    return record


def detail_pixels(rel: str, options: ProbeOptions, side: int = DETAIL_SIDE) -> np.ndarray | None:
    """The image `rel` decoded again for a near-duplicate check at detail (`thumbnails.detail_similarity`),
    as `decode_detail` gives it; None when it can no longer be read (changed or removed since the scan)."""
    try:
        return decode_detail(read_file_checked(rel, options), side, max_pixels=options.max_pixels)
    except Exception:  # a file that changed since the scan: its pair keeps the thumbnail's verdict
        return None


def decode_detail(
    data: bytes, side: int = DETAIL_SIDE, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """An image file decoded for the second look: uint8 HxW (gray) or HxWx3 (colour), at its own size
    or shrunk to `side` px on its longer side."""
    with pixel_limit(max_pixels), Image.open(io.BytesIO(data)) as image:
        colour = image.mode not in GRAY_MODES
        if image.format == "JPEG":
            image.draft("RGB" if colour else "L", (side, side))
        converted = image.convert("RGB" if colour else "L")
        if max(converted.size) > side:
            converted.thumbnail((side, side), Image.Resampling.BILINEAR)
        return np.asarray(converted)


def probe_many(rels: list[str], options: ProbeOptions) -> list[dict]:
    """Probe a chunk of files (the unit of work sent to one worker process)."""
    return [probe_file(rel, options) for rel in rels]
