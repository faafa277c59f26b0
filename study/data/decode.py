"""How one image file becomes pixels, or a verdict that it cannot; the work done in worker processes.

Kept apart from the rest of study.data (PIL and numpy only, no pandas) so that a spawned worker
starts in a fraction of a second.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps


def decodes(path: str) -> bool:
    """True when PIL can decode the image at `path` (missing, empty, non-image or truncated: False)."""
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (1, 1))  # DCT scaling to 1/8: every byte is still decoded
            image.load()
        return True
    except Exception:  # noqa: BLE001 - PIL raises many types (OSError, SyntaxError, ValueError, ...); any is a no
        return False


def decode_resized(path: str, size: int) -> np.ndarray:
    """One image as (size, size, 3) uint8 RGB: short side resized to `size`, then a centre crop.

    The arithmetic is torchvision's Resize(size) + CenterCrop(size); JPEGs are decoded at reduced
    scale first (`draft`: 1/2, 1/4 or 1/8, never below `size`), which is what makes a museum scan cheap.
    """
    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft("RGB", (size, size))
        image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    long = int(size * max(width, height) / min(width, height))  # Resize(size) truncates the long side
    new = (size, long) if width <= height else (long, size)
    image = image.resize(new, Image.Resampling.BILINEAR)
    top, left = int(round((new[1] - size) / 2.0)), int(round((new[0] - size) / 2.0))
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def decodes_all(paths: list[str]) -> list[bool]:
    return [decodes(p) for p in paths]


def fill_rows(jobs: list[tuple[str, int, int, str]]) -> list[bool]:
    """Decode each (array file, size, row, image path) into that row of the .npy array file."""
    pixels = np.load(jobs[0][0], mmap_mode="r+")
    ok = []
    for _, size, row, path in jobs:
        try:
            pixels[row] = decode_resized(path, size)
            ok.append(True)
        except Exception:  # noqa: BLE001 - any decoding failure leaves a black row, marked not ok
            ok.append(False)
    pixels.flush()
    return ok
