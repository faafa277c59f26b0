"""What a collection offers each task: images, classes, split sizes and what was dropped, and why.

`summarize` gives the `summary --json` object of docs/contracts.md (also stored in each experiment's
study.json); `format_summary` the table the 2020 reproduction printed as "the number of items and
labels for each challenge", with the drop counts beside it.
"""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from study.data.collection import DROP_KEYS, Collection, DataError
from study.data.split import assign, readable_rows, split_keys


def summarize(collection: Collection, task: str | None = None, *, min_per_class: int = 0, top_k: int = 0,
              split_seed: int = 0, split=None, cache_dir: str | Path | None = None) -> dict:
    """{"collection", "root", "tasks": {task: {images, classes, train, val, test, dropped}}}.

    With a task, DataError when nothing is left of it; for all tasks, only when nothing is left of any.
    """
    tasks = list(collection.tasks) if task is None else [task]
    for name in tasks:
        if name not in collection.tasks:
            raise DataError(f"{collection.name} has no task {name!r}; its tasks: {', '.join(collection.tasks)}")
    # One look at the images for all tasks: each labelled record's image, whichever task labels it.
    labelled = collection.reasons[tasks].isna().any(axis=1).to_numpy()
    verdicts, keys = readable_rows(collection, labelled, cache_dir), split_keys(collection, labelled, split_seed)
    out = {"collection": collection.name, "root": str(collection.root), "tasks": {}}
    for name in tasks:
        data = assign(collection, name, min_per_class=min_per_class, top_k=top_k, split=split,
                      split_seed=split_seed, cache_dir=cache_dir, verdicts=verdicts, keys=keys)
        out["tasks"][name] = {**data.counts(), "dropped": data.dropped}
    if not any(entry["images"] for entry in out["tasks"].values()):
        cutoffs = f"min_per_class={min_per_class}, top_k={top_k}"
        raise DataError(f"nothing is left of {collection.name} task(s) {', '.join(tasks)} at {collection.root} "
                        f"with {cutoffs}; lower the cutoffs or check the data (summary --json shows the drops)")
    return out


def format_summary(summary: dict) -> str:
    """A plain-text table: one row per task, kept images and classes, the split, then each drop count."""
    header = ["task", "images", "classes", "train", "val", "test", *DROP_KEYS]
    rows = [[task, *(entry[k] for k in header[1:6]), *(entry["dropped"][k] for k in DROP_KEYS)]
            for task, entry in summary["tasks"].items()]
    records = next(iter(summary["tasks"].values()))
    total = records["images"] + sum(records["dropped"].values())
    title = f"{summary['collection']} at {summary['root']}: {total} records"
    return title + "\n" + tabulate(rows, headers=[h.replace("_", " ") for h in header], tablefmt="simple")
