"""One task of a collection, ready to train on: readable images, pruned labels, the exact sha1 split.

docs/contracts.md, "Pruning and the split", step by step:
1. count each class's labelled, readable images;
2. prune: `min_per_class` keeps classes with at least N images, then `top_k` the K most frequent
   (ties by label, ascending);
3. split each class on its own: sort by sha1(f"{split_seed}:{image_id}"), then
   n_val = max(1, int(n*val + 0.5)), n_test = max(1, int(n*test + 0.5)) (0 where the fraction is 0),
   n_train = n - n_val - n_test: train first, then val, then test;
4. drop a class with n_train < 1 (it must occur in every split) and count its images as rare_class.
So an image's split depends only on its id, class and split_seed, never on the cutoff.

Every record is counted once per task, under the first reason that applies: bad_metadata,
no_label / multi_label, unreadable, pruned, rare_class.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from study.config import TrialConfig, parse_split
from study.data.collection import DROP_KEYS, RECORD_REASONS, Collection, DataError
from study.data.readable import readable

SPLITS = ("train", "val", "test")


@dataclass
class TaskData:
    task: str
    classes: list[str]  # sorted ascending; a class's index is its position
    frame: pd.DataFrame  # image_id, path, label, y, split; index 0..n-1 in the collection's record order
    dropped: dict[str, int]  # every key of DROP_KEYS: records of the collection not in `frame`, by reason

    def counts(self) -> dict[str, int]:
        sizes = self.frame["split"].value_counts()
        return {"images": len(self.frame), "classes": len(self.classes),
                **{name: int(sizes.get(name, 0)) for name in SPLITS}}

    def rows(self, split: str) -> pd.DataFrame:
        """The rows of one split; their index is their position in `frame` (to pick from load_images' array)."""
        if split not in SPLITS:
            raise DataError(f"split {split!r}; choose one of {', '.join(SPLITS)}")
        return self.frame[self.frame["split"] == split]


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) for a class of n images; n_train < 1 means the class is dropped."""
    _, val, test = fractions
    n_val = max(1, int(n * val + 0.5)) if val > 0 else 0
    n_test = max(1, int(n * test + 0.5)) if test > 0 else 0
    return n - n_val - n_test, n_val, n_test


def split_keys(collection: Collection, rows: np.ndarray, split_seed: int) -> pd.Series:
    """sha1(f"{split_seed}:{image_id}") hex digests of the records among `rows` (a bool mask over the table)."""
    ids = collection.table.loc[rows, "image_id"]
    return pd.Series([hashlib.sha1(f"{split_seed}:{i}".encode()).hexdigest() for i in ids.tolist()],
                     index=ids.index, dtype=object)


def fractions_of(split) -> tuple[float, float, float]:
    """(train, val, test) from text such as TrialConfig.split, a 3-tuple or None (TrialConfig.split);
    ConfigError when they do not sum to 1."""
    if split is None:
        split = TrialConfig.split
    return parse_split(split if isinstance(split, str) else ",".join(repr(float(f)) for f in split))


def readable_rows(collection: Collection, rows: np.ndarray, cache_dir: str | Path | None = None) -> pd.Series:
    """True for each record among `rows` (a bool mask over the table) whose image decodes; False elsewhere."""
    ok = pd.Series(False, index=collection.table.index)
    ok[rows] = readable(collection, collection.table.loc[rows, "path"].tolist(), cache_dir)
    return ok


def assign(collection: Collection, task: str, *, min_per_class: int = 0, top_k: int = 0,
           split=None, split_seed: int = 0, cache_dir: str | Path | None = None,
           verdicts: pd.Series | None = None, keys: pd.Series | None = None) -> TaskData:
    """Everything prepare_task does, without refusing an empty result (summary reports those as zeros).

    `verdicts` (readable_rows) and `keys` (split_keys for this split_seed), covering at least this
    task's labelled records, spare the work when several tasks are assigned in a row."""
    if task not in collection.tasks:
        raise DataError(f"{collection.name} has no task {task!r}; its tasks: {', '.join(collection.tasks)}")
    if min_per_class < 0 or top_k < 0:
        raise DataError("min_per_class and top_k cannot be negative (0 = off)")
    fractions = fractions_of(split)
    table, reasons = collection.table, collection.reasons[task]
    dropped = dict.fromkeys(DROP_KEYS, 0)
    for reason in RECORD_REASONS:
        dropped[reason] = int((reasons == reason).sum())

    labelled = reasons.isna().to_numpy()
    if verdicts is None:
        verdicts = readable_rows(collection, labelled, cache_dir)
    ok = verdicts.to_numpy()[labelled]
    rows = table.loc[labelled, ["image_id", "path", task]].rename(columns={task: "label"})
    dropped["unreadable"] = int((~ok).sum())
    rows = rows[ok]

    counts = rows["label"].value_counts()
    kept = counts[counts >= min_per_class] if min_per_class else counts
    if top_k:
        order = sorted(kept.items(), key=lambda item: (-item[1], item[0]))  # ties: label ascending
        kept = kept[[label for label, _ in order[:top_k]]]
    in_kept = rows["label"].isin(kept.index).to_numpy()
    dropped["pruned"] = int((~in_kept).sum())
    rows = rows[in_kept].copy()

    if keys is None:
        keys = split_keys(collection, table.index.isin(rows.index), split_seed)
    rows["_key"] = keys.reindex(rows.index)
    rows = rows.sort_values(["label", "_key"], kind="stable")
    rank = rows.groupby("label", sort=False).cumcount().to_numpy()
    sizes = pd.DataFrame([split_sizes(int(n), fractions) for n in kept.to_numpy()], index=kept.index,
                         columns=["train", "val", "test"], dtype=np.int64)
    per_row = sizes.reindex(rows["label"].to_numpy())
    n_train, n_val = per_row["train"].to_numpy(), per_row["val"].to_numpy()
    rows["split"] = np.where(rank < n_train, "train", np.where(rank < n_train + n_val, "val", "test"))
    rare = n_train < 1
    dropped["rare_class"] = int(rare.sum())
    rows = rows[~rare].sort_index()

    classes = sorted(rows["label"].unique())
    rows["y"] = pd.Categorical(rows["label"], categories=classes).codes.astype(np.int64)
    frame = rows[["image_id", "path", "label", "y", "split"]].reset_index(drop=True)
    return TaskData(task=task, classes=classes, frame=frame, dropped=dropped)


def prepare_task(collection: Collection, task: str, *, min_per_class: int = 0, top_k: int = 0,
                 split=None, split_seed: int = 0, cache_dir: str | Path | None = None) -> TaskData:
    """The task's labelled, readable, pruned and split images; DataError when fewer than two classes remain."""
    data = assign(collection, task, min_per_class=min_per_class, top_k=top_k, split=split,
                  split_seed=split_seed, cache_dir=cache_dir)
    if len(data.classes) < 2:
        left = "nothing is left" if not data.classes else f"only one class is left ({data.classes[0]!r})"
        raise DataError(f"{collection.name} task {task}: {left} after dropping records "
                        f"({', '.join(f'{k} {v}' for k, v in data.dropped.items() if v)}) with "
                        f"min_per_class={min_per_class}, top_k={top_k}; lower the cutoffs or check the data")
    return data
