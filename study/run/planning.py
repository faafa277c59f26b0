"""From a space and the command line's options to checked trial configs, before Ray starts.

`make_context` reads the collection(s) once (the demo budget's own demo collection when there is no
--data); `plan` asks the space for its stages, raises the demo budget's small image size to each
backbone's minimum, and checks every trial config (task, keys, types, backbone, input size), so
bad input ends as one `error:` line before any trial. Backbones are checked against
study/trial/catalogue.py, which needs no torch: the driver never imports it (~4 s on 2 cores).
"""

from __future__ import annotations

from typing import Any

from search_spaces import Context, Space, Stage
from study.config import ConfigError, parse_split, resolve_config
from study.trial import catalogue
from study.trial.catalogue import BackboneInfo, ModelError
from study.trial.imagenet_files import WeightsNotFound, find_imagenet


class Collections:
    """The collections a run reads, each once (read_collection), with their class counts."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Any] = {}
        self._counts: dict[tuple, int] = {}

    def get(self, collection: str, root: str):
        key = (collection, root)
        if key not in self._open:
            from study.data import read_collection

            self._open[key] = read_collection(collection, root or None)
        return self._open[key]

    def count_classes(self, collection: str, root: str, task: str, min_per_class: int, split: str) -> int:
        """Classes a trial of this task will have: after min_per_class and the rare-class rule under
        `split` (a class needs a training image once val and test have had theirs, so the fractions
        decide which small classes survive)."""
        key = (collection, root, task, min_per_class, split)
        if key not in self._counts:
            from study.data import summarize

            self.check_task(collection, root, task)
            summary = summarize(self.get(collection, root), task, min_per_class=min_per_class,
                                split=parse_split(split))
            self._counts[key] = int(summary["tasks"][task]["classes"])
        return self._counts[key]

    def check_task(self, collection: str, root: str, task: str) -> None:
        tasks = self.get(collection, root).tasks
        if task not in tasks:
            where = f"the {collection} collection" + (f" at {root}" if root else "")
            raise ConfigError(f"task={task!r}: {where} has tasks {', '.join(tasks)}")


def demo_root(seed: int = 0, images: int = 0) -> str:
    """The demo budget's collection: the synthetic demo of DEMO_BUDGET.images images (or `images`, a
    space's own demo size), written once into the cache folder (seed 1: cross_collection's source, a
    second collection painted in the same styles)."""
    from study.data import ensure_demo

    return str(ensure_demo(seed=seed, images=images or None))


def make_context(options: dict, collections: Collections, demo_images: int = 0) -> Context:
    """`demo_images`: the space's own demo size (Space.demo_images; 0: the demo budget's)."""
    data = options["data"] or demo_root(0, demo_images)  # no --data: the demo collection, demo-sized
    target = collections.get(options["collection"], data)
    source = {"collection": options["source_collection"], "data_root": options["source_data"],
              "task": options["source_task"]}
    return Context(collection=options["collection"], data_root=data, tasks=tuple(target.tasks),
                   demo=options["collection"] == "demo", seeds=options["seeds"], overrides=options["set"],
                   count_classes=collections.count_classes, sampler=options["sampler"], source=source,
                   demo_root=lambda seed: demo_root(seed, demo_images), has_imagenet=imagenet_present)


def backbone_info(model: str) -> BackboneInfo:
    """The catalogue's facts of `model`. A name it lacks may be a backbone registered in code: importing
    the builders' module (and torch, only then) enters it into the catalogue."""
    if model not in catalogue.list_models():
        import study.trial.backbones  # noqa: F401
    return catalogue.get_info(model)


def imagenet_present(model: str) -> bool:
    """Whether `model`'s ImageNet file is on this machine (study.trial.imagenet_files looks; nothing downloads)."""
    try:
        source = backbone_info(model).imagenet
    except ModelError:
        return True  # an unknown name: check_stage says what is wrong
    if source is None:
        return False
    try:
        find_imagenet(source, model)
    except WeightsNotFound:
        return False
    return True


def plan(space: Space, ctx: Context, collections: Collections) -> list[Stage]:
    stages = space.stages(ctx)
    for stage in stages:  # the cheap check first: a wrong task should not wait for the collection's summary
        for config in stage.trial_configs():
            collections.check_task(config["collection"], config["data_root"], config["task"])
    for stage in stages:
        if "image_size" not in ctx.overrides:
            raise_image_size(stage)
        check_stage(stage)
    return stages


def min_size(model: str) -> int:
    try:
        return backbone_info(model).min_size
    except ModelError:  # check_stage says what is wrong
        return 0


def raise_image_size(stage: Stage) -> None:
    """A budget's small image_size, raised to each backbone's minimum input size (inception_v3 needs
    75 px): the key then varies with the model, so the stage lists its cells explicitly."""
    size = int(stage.base.get("image_size") or 0)
    cells = stage.cell_list()
    known = {m: min_size(m) for m in {str(c.get("model", stage.base.get("model"))) for c in cells}}
    if not size or all(need <= size for need in known.values()):
        return
    for cell in cells:  # a cell's own size (a backbone the demo runs bigger) is kept, raised the same way
        own = int(cell.get("image_size", size))
        cell["image_size"] = max(own, known[str(cell.get("model", stage.base.get("model")))])
    stage.cells, stage.grid = cells, {}
    stage.base.pop("image_size")


def check_stage(stage: Stage) -> None:
    """Every trial config resolves and names a known backbone that takes its image size."""
    for config in stage.trial_configs():
        # An Optuna key shows its distribution, a placeholder what will replace it: neither is a value yet.
        probe = {k: v for k, v in config.items() if k not in stage.search and (k, v) not in stage.placeholders}
        resolve_config(probe)
        try:
            backbone_info(str(config.get("model")))
        except ModelError:
            raise ConfigError(f"model={config.get('model')!r}; known models: "
                              f"{', '.join(catalogue.list_models())}") from None
        catalogue.input_size(config["model"], int(config.get("image_size") or 0))


def missing_imagenet(stages: list[Stage]) -> dict[str, str]:
    """{model: the ImageNet file it needs} for the planned trials with weights=imagenet whose file is
    in none of the local caches (study.trial.imagenet_files), so the run can say so once, before any trial."""
    wanted = {c["model"] for stage in stages for c in stage.trial_configs() if c.get("weights") == "imagenet"}
    missing = {}
    for model in sorted(wanted):
        source = backbone_info(model).imagenet
        if source is None:
            continue  # a backbone without ImageNet weights (tiny_cnn): its trials say so themselves
        try:
            find_imagenet(source, model)
        except WeightsNotFound:
            missing[model] = source.file
    return missing
