"""The ImageFolder layout: `<root>/<class>/<image>`, one task called `label`.

Files whose extension is not an image's (Thumbs.db, .DS_Store, notes.txt) are ignored, and so are
hidden files and files directly under the root; images in subfolders of a class folder belong to
that class. Image files that cannot be decoded count as `unreadable` when a task is prepared.
The image id is the path relative to the root.

Symbolic links are not followed out of the root: a linked folder or file whose target lies
outside it is one `bad_metadata` record (make_collection refuses any path outside the root), and
links to folders inside a class folder are not walked. A file or class folder whose name is not
valid UTF-8 is a `bad_metadata` record too, named with its bad bytes escaped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from study.data.collection import (IMAGE_EXTENSIONS, Collection, DataError, empty_reasons, inside_root,
                                   make_collection, unicode_name)


def read_folder(root: Path, name: str = "folder") -> Collection:
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder collection: no such folder")
    rows, bad = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label, label_ok = unicode_name(class_dir.name)
        if not inside_root(root, [str(class_dir)])[0]:
            rows.append((label, str(class_dir), label))  # a link out of the root: one refused record, not walked
            bad.append(False)
            continue
        for folder, dirs, files in os.walk(class_dir):  # followlinks=False: linked subfolders are not walked
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in sorted(files):
                if file.startswith(".") or os.path.splitext(file)[1].lower() not in IMAGE_EXTENSIONS:
                    continue
                image_id, id_ok = unicode_name(Path(folder, file).relative_to(root).as_posix())
                rows.append((image_id, str(root / image_id) if not id_ok else os.path.join(folder, file), label))
                bad.append(not (id_ok and label_ok))
    if not rows:
        raise DataError(f"{root} is not a folder collection: expected class folders holding images "
                        f"(<root>/<class>/<image>, extensions {' '.join(IMAGE_EXTENSIONS)})")
    table = pd.DataFrame(rows, columns=["image_id", "path", "label"]).astype(object)
    reasons = empty_reasons(table.index, ["label"])
    reasons.loc[bad, "label"] = "bad_metadata"  # a name that is not valid UTF-8 cannot be an id or a label
    return make_collection(name, root, ["label"], table, reasons)
