"""A collection read from disk: one row per record, one label column per task, and why rows lack a label.

Every reader (rijksmuseum.py, imet.py, folder.py, csvlabels.py) ends in `make_collection`, so the
record-level rules that do not depend on the layout live here once: a label that is None or blank
counts as `no_label`, and an image id that occurs twice counts as `bad_metadata` (the split is keyed
by image id, so two records with one id cannot both be placed). So does a record whose image lies
outside the collection's folder (`../../etc/passwd` in a labels.csv, or a symbolic link pointing
out of the root): nothing outside the root is ever opened. File names that are not valid UTF-8
(`unicode_name`) become `bad_metadata` records in the readers, with the bad bytes shown as `\xff`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from study.errors import StudyError

# The drop counters of docs/contracts.md, in the order summary --json prints them.
DROP_KEYS = ("bad_metadata", "unreadable", "no_label", "multi_label", "rare_class", "pruned")
# The reasons a record itself gives (the rest are decided per task, later, in split.py).
RECORD_REASONS = ("bad_metadata", "no_label", "multi_label")
# What counts as an image file where a layout holds other files too (folder, Rijksmuseum jpg2/).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
# Column names a collection's table already uses, so no task may take them.
RESERVED_COLUMNS = ("image_id", "path")


class DataError(StudyError, ValueError):
    """A collection, task or cutoff no study can use; the message says what would work."""


@dataclass
class Collection:
    name: str  # the collection kind it was read as: rijksmuseum | imet | folder | csv | demo
    root: Path  # the folder it was read from, resolved
    tasks: tuple[str, ...]  # the labellings it offers, in a fixed order
    table: pd.DataFrame  # image_id, path (absolute), one label column per task (None: no label)
    reasons: pd.DataFrame  # same index; per task "bad_metadata" | "no_label" | "multi_label" | None
    key: str = field(default="")  # short hash of (name, root): names this collection's caches

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.key:
            self.key = collection_key(self.name, self.root)

    def __len__(self) -> int:
        return len(self.table)


def collection_key(name: str, root: Path) -> str:
    return hashlib.sha1(f"{name}\0{Path(root).resolve()}".encode()).hexdigest()[:16]


def make_collection(
    name: str, root: Path, tasks: list[str], table: pd.DataFrame, reasons: pd.DataFrame
) -> Collection:
    """Check a reader's output and apply the record-level rules shared by every layout.

    `table` needs image_id, path and one column per task; `reasons` one column per task holding a
    reason or None. A label that is None or blank becomes None with reason no_label (unless the
    reader gave a reason already); any reason blanks the label, so a dropped record never carries one.
    """
    table = table.reset_index(drop=True)
    reasons = reasons.reset_index(drop=True).reindex(columns=tasks)
    table = table.astype({"image_id": str, "path": str})
    duplicated = table["image_id"].duplicated(keep=False).to_numpy()
    outside = ~np.array(inside_root(root, table["path"].tolist()), dtype=bool)
    refused = duplicated | outside
    for task in tasks:
        labels, why = [], []
        for label, reason, bad in zip(table[task].tolist(), reasons[task].tolist(), refused):
            label = _clean(label)
            reason = "bad_metadata" if bad else (reason if isinstance(reason, str) else None)
            reason = reason or (None if label else "no_label")
            labels.append(None if reason else label)
            why.append(reason)
        table[task] = pd.Series(labels, dtype=object)  # object, so "no label" stays None (not NaN)
        reasons[task] = pd.Series(why, dtype=object)
    return Collection(name=name, root=Path(root).resolve(), tasks=tuple(tasks), table=table, reasons=reasons)


def inside_root(root: Path, paths: list[str]) -> list[bool]:
    """For each path: does it, symbolic links followed, stay inside `root`?

    Cheap on 112k images: per distinct folder one realpath and one listing of its links (scandir's
    d_type, no stat per file). A layout folder (jpg2/, a class folder) that links outside counts too."""
    base = os.path.realpath(root)
    prefix = base.rstrip(os.sep) + os.sep
    folders: dict[str, tuple[str, set[str]]] = {}
    out = []
    for path in paths:
        path = os.path.normpath(os.path.join(base, path))
        parent, name = os.path.split(path)
        if parent not in folders:
            folders[parent] = (os.path.realpath(parent), _links(parent))
        real_parent, links = folders[parent]
        real = os.path.realpath(path) if name in links else os.path.join(real_parent, name)
        out.append(real.startswith(prefix))
    return out


def _links(folder: str) -> set[str]:
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_symlink()}
    except OSError:  # absent or unreadable: nothing in it is a link
        return set()


def unicode_name(name: str) -> tuple[str, bool]:
    """(`name` as valid text, whether it already was). A file name that is not valid UTF-8 reaches
    Python with surrogate escapes, which pandas, JSON and CSV cannot hold; its bytes are shown as \\xff."""
    try:
        name.encode("utf-8")
        return name, True
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), False


def writable_folder(folder: Path, what: str,
                    hint: str = "set ARTSTUDY_CACHE or cache_dir to a writable folder") -> Path:
    """`folder`, created if need be; DataError (not a traceback) when that is not allowed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"no write permission on {folder}")
    except OSError as error:
        raise DataError(f"cannot write {what} to {folder} ({error}); {hint}") from None
    return folder


def _clean(label) -> str | None:
    if label is None or (isinstance(label, float) and label != label):  # None or NaN
        return None
    return str(label).strip() or None


def empty_reasons(index: pd.Index, tasks: list[str]) -> pd.DataFrame:
    return pd.DataFrame({task: pd.Series([None] * len(index), index=index, dtype=object) for task in tasks})
