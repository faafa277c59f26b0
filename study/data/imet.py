"""The iMet Collection 2020 layout: `train.csv` (id, attribute_ids), `labels.csv`, images `train/<id>.png`.

One task per attribute category (`medium::Paper` is category medium, name Paper), in the order
labels.csv first names them. An image is labelled for category T when it has exactly one attribute
of T (the label is the name after `::`); two or more make it `multi_label`, none `no_label`.
Attribute ids labels.csv does not list are ignored, as are labels.csv rows without a `::`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from study.data.collection import RESERVED_COLUMNS, Collection, DataError, make_collection


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}; an iMet {path.name} has {', '.join(columns)}")
    return frame


def read_imet(root: Path, name: str = "imet") -> Collection:
    root = Path(root).resolve()
    if not (root / "train.csv").is_file() or not (root / "labels.csv").is_file():
        raise DataError(f"{root} is not an imet collection: expected train.csv (id,attribute_ids), "
                        f"labels.csv (attribute_id,attribute_name) and images train/<id>.png in it")
    records = _read_csv(root / "train.csv", ["id", "attribute_ids"])
    labels = _read_csv(root / "labels.csv", ["attribute_id", "attribute_name"])
    labels = labels[labels["attribute_name"].str.contains("::", regex=False)]
    parts = labels["attribute_name"].str.split("::", n=1)
    attributes = pd.DataFrame({
        "attribute": labels["attribute_id"].str.strip().to_numpy(),
        "category": parts.str[0].str.strip().to_numpy(),
        "value": parts.str[1].str.strip().to_numpy(),
    }).drop_duplicates("attribute")
    tasks = [t for t in pd.unique(attributes["category"]) if t and t not in RESERVED_COLUMNS]
    if not tasks:
        raise DataError(f"{root / 'labels.csv'} names no attribute category (names look like medium::Paper)")

    ids = records["id"].str.strip()
    table = pd.DataFrame({"image_id": ids, "path": [str(root / "train" / f"{i}.png") for i in ids]})
    # One row per (record, known attribute); then, per category, how many and which one.
    pairs = records["attribute_ids"].str.split().explode().dropna().rename("attribute").reset_index()
    pairs = pairs.drop_duplicates()  # an id listed twice is still one attribute
    pairs = pairs.merge(attributes, on="attribute", how="inner")
    grouped = pairs.groupby(["index", "category"])["value"]
    per_category = pd.DataFrame({"n": grouped.size(), "value": grouped.first()}).reset_index()
    reasons = pd.DataFrame(index=table.index)
    for task in tasks:
        found = per_category[per_category["category"] == task].set_index("index")
        n = found["n"].reindex(table.index, fill_value=0)
        value = found["value"].reindex(table.index)
        table[task] = value.astype(object).where(n == 1, None)
        reasons[task] = pd.Series(None, index=table.index, dtype=object).where(n <= 1, "multi_label")
    blank = ids == ""
    reasons.loc[blank.to_numpy(), :] = "bad_metadata"  # a row without an id names no image
    return make_collection(name, root, tasks, table, reasons)
