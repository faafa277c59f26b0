"""Row e: frozen-backbone passes per image over label_pruning's off-the-shelf trials, counted.

Every rung of label_pruning's ladder (top_k = 18, 9, 5, 2 on the demo's artist task) is another
trial on a subset of the same images. The feature store is keyed by image, not by task or cutoff,
so each backbone should see each image once, whatever the number of rungs: passes / images = 1.
The count comes from the store itself (study.trial.features.written_rows: every row written is
one miss, one image through the backbone), never from timing. The naive cost, one pass per image
per trial, is printed beside it.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from study.bench.rows import Row, ratio
from study.trial.features import written_rows
from study.trial.run_trial import run_trial

TARGET = 1.0
QUICK_MODELS = ("alexnet", "resnet50")


def planned_configs(root: Path, models: tuple[str, ...] | None, epochs: int = 1) -> list[dict]:
    """label_pruning's off-the-shelf trials on the demo at `root`, as `python -m study.run` plans them."""
    from search_spaces import Context, get_space
    from study.run.planning import Collections, plan

    collections = Collections()
    ctx = Context(collection="demo", data_root=str(root), tasks=tuple(collections.get("demo", str(root)).tasks),
                  demo=True, overrides={"max_epochs": epochs, "patience": epochs},
                  count_classes=collections.count_classes)
    configs = [c for stage in plan(get_space("label_pruning"), ctx, collections) for c in stage.trial_configs()]
    return [c for c in configs if c["mode"] == "off_the_shelf" and (models is None or c["model"] in models)]


def count_passes(configs: list[dict], cache_dir: Path, collection=None) -> dict:
    """Run each trial in turn on a fresh feature cache; the passes its stores recorded, per backbone."""
    images: dict[str, set[str]] = {}
    naive = 0
    for config in configs:
        final = run_trial({**config, "cache_dir": str(cache_dir)}, collection=collection)
        naive += final["n_train"] + final["n_val"] + final["n_test"]
    passes = 0
    for key, ids in written_rows(cache_dir).values():
        # a backbone is a model with its weights: efficientnet_lite0 from ImageNet and from random init
        # are two, each with its own features (the demo runs both)
        images.setdefault((key["model"], key["weights"]), set()).update(ids)
        passes += len(ids)
    distinct = sum(len(v) for v in images.values())
    return {"trials": len(configs), "backbones": backbone_names(images), "n_backbones": len(images),
            "passes": passes, "images": distinct, "naive_passes": naive}


def backbone_names(backbones) -> list[str]:
    """'model', or 'model xN' where N weight sets of it ran (each a backbone of its own)."""
    counts = Counter(model for model, _ in backbones)
    return [model if n == 1 else f"{model} x{n}" for model, n in sorted(counts.items())]


def row_e_from(counted: dict) -> Row:
    return Row("e", "label_pruning off the shelf: backbone passes / (images x backbones)",
               ratio(counted["passes"], counted["images"]), TARGET, at_most=True,
               detail=f"{counted['trials']} trials, {counted['n_backbones']} backbone(s) "
                      f"({', '.join(counted['backbones'])}): {counted['passes']} passes for {counted['images']} "
                      f"image-backbone pairs (one pass per trial would be {counted['naive_passes']})")


def row_e(quick: bool = False, images: int = 400, workdir: Path | None = None) -> Row:
    from study.data import read_collection, write_demo

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = write_demo(Path(tmp) / "demo", images=images, seed=0)
        configs = planned_configs(root, QUICK_MODELS if quick else None)
        counted = count_passes(configs, Path(tmp) / "cache", read_collection("demo", root))
    return row_e_from(counted)
