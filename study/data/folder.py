"""The ImageFolder layout: `<root>/<class>/<image>`, one task called `label`.

Files whose extension is not an image's (Thumbs.db, .DS_Store, notes.txt) are ignored, and so are
hidden files and files directly under the root; images in subfolders of a class folder belong to
that class. Image files that cannot be decoded count as `unreadable` when a task is prepared.
The image id is the path relative to the root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from study.data.collection import IMAGE_EXTENSIONS, Collection, DataError, empty_reasons, make_collection


def read_folder(root: Path, name: str = "folder") -> Collection:
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder collection: no such folder")
    rows = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for folder, dirs, files in os.walk(class_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in sorted(files):
                if file.startswith(".") or os.path.splitext(file)[1].lower() not in IMAGE_EXTENSIONS:
                    continue
                path = Path(folder) / file
                rows.append((path.relative_to(root).as_posix(), str(path), class_dir.name))
    if not rows:
        raise DataError(f"{root} is not a folder collection: expected class folders holding images "
                        f"(<root>/<class>/<image>, extensions {' '.join(IMAGE_EXTENSIONS)})")
    table = pd.DataFrame(rows, columns=["image_id", "path", "label"]).astype(object)
    return make_collection(name, root, ["label"], table, empty_reasons(table.index, ["label"]))
