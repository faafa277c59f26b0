"""A planned stage -> a Ray Tune experiment: the Tuner, its search and scheduler, the results.

Grids become `tune.grid_search`; explicit cells (a value that depends on another, like a backbone's
minimum image size, or a value an earlier stage decided) become BasicVariantGenerator points; Optuna spaces get
one search and one ASHA per scientific cell (study/run/percell.py). Trials report through
study/run/trainable.py; `--resume` is `Tuner.restore(..., resume_errored=True)`.
"""

from __future__ import annotations

import json
from pathlib import Path

from search_spaces import Space, Stage
from study.config import TrialConfig
from study.run import experiment as exp
from study.run.checkpoint_pace import DEFAULT_SHARE

MAX_FAILURES = 2  # Ray retries a failed trial this often, from its last checkpoint
# Per trial, the two newest checkpoints. Ray deletes the older ones as soon as a new one is registered,
# but the experiment state that --resume restores names the checkpoint registered before its last
# snapshot: with one kept, a driver killed between a registration and the next snapshot leaves a state
# naming a deleted checkpoint, and Ray then refuses to restore that trial ("does not exist on storage
# anymore"). Ray forces a snapshot once a trial has checkpointed num_to_keep times since the last one,
# so with two kept the named checkpoint is one behind at most and still there, but for the instant
# of that forced snapshot. (Snapshotting every step instead is worse: Ray writes the state file in
# place, and a kill mid-write leaves it unreadable.) Finished trials' superseded states are deleted
# once Tune returns (prune_finished below).
CHECKPOINTS_KEPT = 2


def restorable(folder: str) -> bool:
    from ray import tune

    return bool(tune.Tuner.can_restore(folder)) if exp.is_uri(folder) or Path(folder).is_dir() else False


def fit_stage(space: Space, stage: Stage, collection, storage: str, folder: str, *, resume: bool,
              cpus: float, gpus: float, max_concurrent: int, sampler: str, trackers: dict | None = None,
              checkpoint_share: float = DEFAULT_SHARE):
    """Run (or, with resume, restore and continue) one stage's Tune experiment; its ResultGrid.

    `trackers` ({"mlflow": uri, "wandb": project}) add Ray's logger callbacks (study/run/trackers.py); a
    restored experiment keeps the callbacks it was started with (Ray restores its RunConfig)."""
    from ray import tune

    trainable = make_trainable(collection, cpus, gpus, checkpoint_share)
    if resume and restorable(folder):
        print(f"resuming {folder}: finished trials are kept, the others continue from their last checkpoints")
        return tune.Tuner.restore(folder, trainable=trainable, resume_errored=True).fit()
    tuner = make_tuner(space, stage, trainable, storage, folder, sampler=sampler, max_concurrent=max_concurrent,
                       trackers=trackers)
    print(f"experiment: {folder} ({stage.num_trials} trials)")
    return tuner.fit()


def make_trainable(collection, cpus: float, gpus: float, checkpoint_share: float = DEFAULT_SHARE):
    """study/run/trainable.py's `train` with the collection bound and each trial's CPU/GPU share."""
    from ray import tune

    from study.run.trainable import train

    return tune.with_resources(tune.with_parameters(train, collection=collection, threads=cpus,
                                                    checkpoint_share=checkpoint_share),
                               {"cpu": cpus, "gpu": gpus})


def make_tuner(space: Space, stage: Stage, trainable, storage: str, folder: str, *, sampler: str = "qmc",
               max_concurrent: int = 0, trackers: dict | None = None):
    """The Tuner of a fresh experiment of one stage (the bench builds its trials' Tuner here too)."""
    from ray import tune

    from study.run import trackers as tracking
    from study.run.progress import ProgressLines

    param_space, search_alg, scheduler, num_samples = search_setup(space, stage, sampler)
    name = Path(folder).name if not exp.is_uri(folder) else folder.rstrip("/").rsplit("/", 1)[1]
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=space.metric, mode=space.mode, search_alg=search_alg, scheduler=scheduler,
            num_samples=num_samples, max_concurrent_trials=max_concurrent or None,
            reuse_actors=True, trial_name_creator=exp.trial_name, trial_dirname_creator=exp.trial_name,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
            callbacks=[ProgressLines(cell_keys(stage), stage.num_trials), *scheduler_callbacks(scheduler),
                       *tracking.callbacks(name, **(trackers or {}))],
            verbose=0,  # ProgressLines prints one line per event instead of Tune's tables
        ),
    )


def scheduler_callbacks(scheduler) -> list:
    """The callbacks a scheduler needs to survive `--resume` (study/run/percell.py, KeepSchedulerState)."""
    from study.run.percell import KeepSchedulerState, PerCellASHA

    return [KeepSchedulerState(scheduler)] if isinstance(scheduler, PerCellASHA) else []


def search_setup(space: Space, stage: Stage, sampler: str | None = None):
    """Ray's param_space, search algorithm, scheduler and sample count for one stage."""
    from ray import tune

    base = dict(stage.base)
    if stage.search:  # one Optuna study per scientific cell (study/run/percell.py)
        from study.run.percell import PerCellASHA, PerCellSearch

        cells = stage.cell_list()
        search = PerCellSearch(cells, stage.search, stage.samples_per_cell, sampler=sampler,
                               seed=int(base.get("seed", TrialConfig.seed)))
        scheduler = None
        if stage.scheduler == "asha":
            scheduler = PerCellASHA(list(cells[0]) if cells else [], max_t=stage.max_t)
        return base, search, scheduler, stage.num_trials
    if stage.cells is not None:  # explicit cells (a value that depends on another, like stage-2 weights)
        from ray.tune.search.basic_variant import BasicVariantGenerator

        keys = sorted({k for c in stage.cells for k in c})
        space_ = {**base, **{k: tune.choice(sorted({c[k] for c in stage.cells}, key=str)) for k in keys}}
        points = longest_first([dict(c) for c in stage.cells], base)
        return space_, BasicVariantGenerator(points_to_evaluate=points), None, len(stage.cells)
    grid = {k: tune.grid_search(list(v)) for k, v in stage.grid.items()}
    return {**base, **grid}, None, None, 1


def longest_first(cells: list[dict], base: dict) -> list[dict]:
    """The cells in the order their trials start: fine-tuned ones first, otherwise as planned.

    A fine-tuned trial trains every layer for every epoch; an off-the-shelf one trains a head on
    cached features, a few seconds. Started last, the short trials fill the slots that free up
    while the last long ones run, instead of a slot idling through the last long trial (on the
    demo that idle tail was 17 of 400 slot-seconds).
    """
    return sorted(cells, key=lambda cell: cell.get("mode", base.get("mode")) != "fine_tune")  # stable


def cell_keys(stage: Stage) -> list[str]:
    """The config keys that tell a stage's trials apart (for progress lines)."""
    keys = list(stage.grid) or sorted({k for c in stage.cell_list() for k in c}, key=str)
    return [k for k in keys if k != "image_size"] + list(stage.search)


def result_rows(results) -> list[dict]:
    """One flat dict per trial: its config, its last report, its folder name and last checkpoint."""
    from study.contract import FINAL_FILE, final_checkpoint
    from study.run.trainable import ArrowFiles

    rows = []
    for result in results:
        row = {**(result.config or {}), **(result.metrics or {})}
        row["trial"] = Path(result.path).name if result.path else "?"
        row["error"] = result.error is not None
        row["checkpoint"] = result.checkpoint.path if result.checkpoint is not None else None
        final = final_checkpoint(result.path, ArrowFiles(result.filesystem)) if result.path else None
        if final is not None and "test_acc" not in row:
            # Finished before a crash the experiment state had not caught up with: the trial's
            # final.json (also its last line in result.json) has what Tune's last result lacks.
            with result.filesystem.open_input_stream(f"{final}/{FINAL_FILE}") as stream:
                row.update(json.loads(stream.read()))
        if final is not None:
            row["checkpoint"] = final
        rows.append(row)
    return rows


def prune_finished(results) -> int:
    """Delete the epoch checkpoints that finished trials no longer need; the bytes freed.

    CHECKPOINTS_KEPT leaves a finished trial its last epoch's state beside the final model.pt; a
    finished trial is never resumed, so once Tune has returned that state is dead weight (~3x the
    model for a fine-tuned one). Local storage only; errored and unfinished trials keep everything.
    """
    import shutil

    import pyarrow.fs

    from study.contract import CHECKPOINT_PREFIX, STATE_FILE, final_checkpoint
    from study.run.trainable import ArrowFiles

    freed = 0
    for result in results:
        if not result.path or not isinstance(result.filesystem, pyarrow.fs.LocalFileSystem):
            continue
        final = final_checkpoint(result.path, ArrowFiles(result.filesystem))
        if final is None:
            continue
        for folder in Path(result.path).glob(f"{CHECKPOINT_PREFIX}*"):
            if folder != Path(final) and (folder / STATE_FILE).is_file():
                freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                shutil.rmtree(folder)
    return freed

