"""The collection kinds artstudy reads, by name: `list_collections()` and `read_collection(name, root)`.

Adding a layout = one reader module (root -> Collection) + one line in READERS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from study.data.collection import Collection, DataError
from study.data.csvlabels import read_csv_collection
from study.data.demo import ensure_demo
from study.data.folder import read_folder
from study.data.imet import read_imet
from study.data.rijksmuseum import read_rijksmuseum

READERS: dict[str, Callable[[Path, str], Collection]] = {
    "rijksmuseum": read_rijksmuseum,
    "imet": read_imet,
    "folder": read_folder,
    "csv": read_csv_collection,
    "demo": read_rijksmuseum,  # the demo is written in the Rijksmuseum layout
}


def list_collections() -> list[str]:
    return list(READERS)


def read_collection(collection: str, root: str | Path | None = None, *, cache_dir=None) -> Collection:
    """Read a collection's records (no image is opened here). `demo` without a root: the embedded demo."""
    if collection not in READERS:
        raise DataError(f"unknown collection {collection!r}; choose one of {', '.join(READERS)}")
    if collection == "demo" and not root:
        root = ensure_demo(cache_dir)
    if not root:
        raise DataError(f"collection {collection} needs a root folder (--root / data_root)")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{root} does not exist; give the folder that holds the {collection} collection")
    return READERS[collection](root, collection)
