"""The csv layout: `<root>/labels.csv` with a `path` column (relative to the root) and one column per task.

Every other column is a task; an empty cell means no label for that task. Cells are read as text
(so `NA` or `001` stay labels, as written) and stripped. The image id is the path as written,
normalised to forward slashes; a path listed twice makes both rows `bad_metadata`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from study.data.collection import RESERVED_COLUMNS, Collection, DataError, empty_reasons, make_collection


def read_csv_collection(root: Path, name: str = "csv") -> Collection:
    root = Path(root).resolve()
    source = root / "labels.csv"
    if not source.is_file():
        raise DataError(f"{root} is not a csv collection: expected labels.csv with a path column "
                        f"(image paths relative to the folder) and one column per task")
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"cannot read {source}: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    tasks = [c for c in frame.columns if c != "path"]
    if "path" not in frame.columns or not tasks:
        raise DataError(f"{source} needs a path column and at least one task column; it has: "
                        f"{', '.join(frame.columns) or 'no columns'}")
    clash = [t for t in tasks if t in RESERVED_COLUMNS or not t or t.startswith("Unnamed:")]
    if clash:
        raise DataError(f"{source}: column name(s) {', '.join(map(repr, clash))} cannot be task names; rename them")
    paths = frame["path"].str.strip().str.replace("\\", "/", regex=False)
    table = pd.DataFrame({
        "image_id": [PurePosixPath(p).as_posix() if p else "" for p in paths],
        "path": [str(root / p) for p in paths],
    })
    for task in tasks:
        table[task] = frame[task].astype(object)
    reasons = empty_reasons(table.index, tasks)
    reasons.loc[(paths == "").to_numpy(), :] = "bad_metadata"  # a row without a path names no image
    return make_collection(name, root, tasks, table, reasons)
