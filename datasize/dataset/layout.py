"""Folder layouts that are one level off, recognised from the listing before any image is read.

`scan` reads one folder per class under DATA. Two mistakes make that go wrong quietly: DATA is
itself one class folder (its images are directly inside it: every file would be "not inside a class
folder", then `no_images`), or DATA wraps the real dataset in one more folder, as export tools leave
it (DATA/export/<class>/...: one class named after the wrapper, then `single_class`). Both are
refused with the folder to use instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from datasize.dataset.probe import IMAGE_EXTENSIONS


def check_layout(root: Path) -> None:
    """ValueError naming the folder to use when `root` is one class folder, or when its only subfolder
    holds the class folders; nothing otherwise (no image is opened).

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("export/cat/1.jpg", "export/dog/2.jpg"):
    ...     (root / name).parent.mkdir(parents=True, exist_ok=True)
    ...     (root / name).touch()
    >>> try:
    ...     check_layout(root)
    ... except ValueError as exc:
    ...     print(str(exc).split(";")[-1].replace(str(root), "DATA"))
     point at DATA/export instead
    """
    folders, images = _entries(root)
    with_images = [f for f in folders if _holds_images(f)]
    if images and not with_images:
        raise ValueError(
            f"{str(root)!r} holds {images} image(s) directly and no class folders: this looks like one "
            f"class folder; point at its parent ({str(root.resolve().parent)!r}), whose subfolders are "
            "the classes (or label the files with --labels or --label-re)"
        )
    if images or len(folders) != 1 or len(with_images) != 1:
        return
    inner = folders[0]
    inner_folders, inner_images = _entries(inner)
    classes = [f for f in inner_folders if _holds_images(f)]
    if inner_images == 0 and len(classes) >= 2:
        shown = ", ".join(repr(f.name) for f in classes[:3])
        raise ValueError(
            f"the classes are one level down: {str(root)!r} holds only the folder {inner.name!r}, whose "
            f"{len(classes)} subfolders hold the images (e.g. {shown}); point at {inner!s} instead"
        )


def _entries(folder: Path) -> tuple[list[Path], int]:
    """The visible subfolders (not links) and the number of image files directly inside `folder`."""
    folders, images = [], 0
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                elif Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                    images += 1
    except OSError:
        return [], 0
    return sorted(folders), images


def _holds_images(folder: Path) -> bool:
    """Whether any image file lies in `folder` or below it (links not followed)."""
    for _, _, files in os.walk(folder, followlinks=False):
        if any(Path(name).suffix.lower() in IMAGE_EXTENSIONS for name in files):
            return True
    return False
