"""The image cache: every image of a collection decoded and resized once per size, then memory-mapped.

    pixels = load_images(collection, task_data.frame, size=224)   # (n, 224, 224, 3) uint8, RGB

An epoch then reads one array instead of decoding 2-5 MB museum JPEGs again. The cache lives in
`<cache>/images/<collection key>-<size>/` (pixels.npy + index.json) and covers every image that has
a label for any task, so all tasks and cutoffs of a collection share it. It is built by worker
processes with a progress bar, into a temporary file renamed into place when complete, under a file
lock that readers take too: two trials starting at once never see a half-written cache; the second
waits and reuses the first one's. A cache whose images changed on disk (size or mtime) is rebuilt,
and so is one whose content does not match its key: an index of another collection or size, or a
pixels.npy that is damaged or not the shape its index promises.

Each image is resized so its short side is `size` and centre-cropped to size x size, with
torchvision's Resize + CenterCrop arithmetic; JPEGs are decoded at reduced scale first (`draft`),
never below `size`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from study import atomic
from study.config import default_cache_dir
from study.data.collection import Collection, DataError, writable_folder
from study.data.decode import fill_rows
from study.data.parallel import check_not_bootstrapping, chunked, map_chunks, worth_processes
from study.data.readable import file_stat

CHUNK = 256  # images per worker task
FORMAT = 1  # bump when the pixels a size produces change, so old caches are not reused


def cache_folder(collection: Collection, size: int, cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "images" / f"{collection.key}-{size}"


def _covered(collection: Collection, frame: pd.DataFrame) -> dict[str, str]:
    """image_id -> path of what the cache holds: every image labelled for some task, and the frame's."""
    labelled = collection.reasons.isna().any(axis=1).to_numpy()
    table = collection.table[labelled]
    covered = dict(zip(table["image_id"], table["path"]))
    covered.update(zip(frame["image_id"], frame["path"]))
    return covered


def _fresh(index: dict | None, key: str, size: int, frame: pd.DataFrame) -> bool:
    if not index or index.get("format") != FORMAT or index.get("size") != size or index.get("collection") != key:
        return False
    rows = index["rows"]
    for image_id, path in zip(frame["image_id"], frame["path"]):
        row = rows.get(image_id)
        if row is None or index["stats"][row] != list(file_stat(path) or [0, 0]):
            return False
    return True


def _pixels(folder: Path, index: dict, size: int) -> np.ndarray | None:
    """pixels.npy memory-mapped, or None when it is unreadable or not the shape its index says."""
    try:
        pixels = np.load(folder / "pixels.npy", mmap_mode="r")
    except (OSError, ValueError):  # missing, truncated, or not an .npy at all
        return None
    return pixels if pixels.shape == (len(index["rows"]), size, size, 3) and pixels.dtype == np.uint8 else None


def _build(folder: Path, key: str, size: int, covered: dict[str, str]) -> dict:
    """Decode every covered image into a new pixels.npy, then write its index.json; returns the index."""
    ids, paths = list(covered), list(covered.values())
    needed = len(ids) * size * size * 3
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DataError(f"the image cache for {len(ids)} images at {size} px needs {needed / 1e9:.1f} GB in "
                        f"{folder}, which has {free / 1e9:.1f} GB free; set ARTSTUDY_CACHE (or cache_dir) elsewhere")
    for stale in folder.glob("*.tmp*"):  # builds run under the lock, so these are left from one that crashed
        stale.unlink(missing_ok=True)
    stats = [list(file_stat(p) or [0, 0]) for p in paths]  # before decoding: a file changed meanwhile is redone
    temp = folder / f"pixels.{uuid.uuid4().hex}.tmp.npy"
    np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=(len(ids), size, size, 3)).flush()
    try:
        jobs = [(str(temp), size, row, path) for row, path in enumerate(paths)]
        processes = worth_processes(len(jobs), sum(s[0] for s in stats))
        ok = [flag for chunk in map_chunks(fill_rows, chunked(jobs, CHUNK), desc=f"caching images at {size} px",
                                           unit="img", processes=processes) for flag in chunk]
        os.replace(temp, folder / "pixels.npy")
    finally:
        temp.unlink(missing_ok=True)
    index = {"format": FORMAT, "collection": key, "size": size, "rows": {i: r for r, i in enumerate(ids)}, "stats": stats, "ok": ok}
    atomic.write_text(folder / "index.json", json.dumps(index))
    return index


def _read_index(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "index.json").read_text())
    except (OSError, ValueError):
        return None


class CachedRows:
    """Some rows of the memory-mapped cache, in a frame's order, read only when indexed.

    What a trial trains on when its task skips some of the cached images (a pruned or partly
    labelled task): `rows[i:j]` or `rows[index_array]` copies just those images, so a trial holds
    a batch in memory, never the task (112k images at 224 px would be 17 GB). Pickles as the file
    name and the row numbers: a DataLoader worker maps the file itself.
    """

    def __init__(self, pixels: np.ndarray, rows: np.ndarray) -> None:
        self.pixels, self.rows = pixels, rows

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.pixels.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.pixels.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> np.ndarray:
        return self.pixels[self.rows[key]]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self.pixels[self.rows], dtype=dtype)

    def __getstate__(self) -> dict:
        return {"filename": self.pixels.filename, "rows": self.rows}

    def __setstate__(self, state: dict) -> None:
        self.pixels, self.rows = np.load(state["filename"], mmap_mode="r"), state["rows"]


def load_images(collection: Collection, frame: pd.DataFrame, size: int,
                cache_dir: str | Path | None = None, lazy: bool = False) -> np.ndarray | CachedRows:
    """(len(frame), size, size, 3) uint8 RGB; row i is frame.iloc[i]'s image. Builds the cache on first use.

    A frame whose rows are consecutive in the cache (the whole of a task that covers the collection)
    gets a read-only memory-mapped view; any other frame a copy of its rows (n * size * size * 3 bytes),
    or with `lazy` a `CachedRows` that reads them per batch (what trials use).
    """
    if size < 1:
        raise DataError(f"image size must be at least 1 pixel, got {size}")
    if len(frame) == 0:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    check_not_bootstrapping()  # before the lock, which a re-imported script's worker would wait on forever
    folder = cache_folder(collection, size, cache_dir)
    writable_folder(folder, "the image cache")
    lock = FileLock(str(folder) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another process to finish the image cache in {folder}", file=sys.stderr)
        lock.acquire()
    try:
        index = _read_index(folder)
        pixels = _pixels(folder, index, size) if _fresh(index, collection.key, size, frame) else None
        if pixels is None:
            index = _build(folder, collection.key, size, _covered(collection, frame))
            pixels = np.load(folder / "pixels.npy", mmap_mode="r")
    finally:
        lock.release()
    rows = np.array([index["rows"][i] for i in frame["image_id"]], dtype=np.int64)
    bad = [i for i, r in zip(frame["image_id"], rows) if not index["ok"][r]]
    if bad:
        raise DataError(f"{len(bad)} image(s) could not be decoded into the cache, e.g. {bad[0]!r}; "
                        f"they should have been dropped as unreadable: has the collection changed? Run again.")
    if np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        return pixels[rows[0] : rows[0] + len(rows)]
    return CachedRows(pixels, rows) if lazy else pixels[rows]
