"""The Ray Tune function trainable: `study.trial.run_trial`, reported each epoch, checkpointed at a pace.

Each epoch: `tune.report(epoch metrics)`, with `checkpoint=<state.pt>` on the epochs that
study/run/checkpoint_pace.py picks (every epoch when epochs are long; on short ones, often enough that
checkpoints take at most 2% of the trial's time), where state.pt is the trial's whole training state
(model or head, optimiser, epoch, early-stopping counters) as `study.trial.save_state` writes it.
A trial that Ray restarts (its worker died, or `python -m study.run --resume`) starts from
`tune.get_checkpoint()` and continues with the epoch after it. At the end one more report holds
the test metrics (`final`), with a checkpoint holding
`model.pt` (the best epoch's model, which `weights=<that folder>` loads and
`study.trial.models.load_model` returns whole; an off-the-shelf trial's holds its head and names
its frozen backbone instead of copying it), `final.json`, and the test set's `predictions.csv` and
`classes.csv` (study/trial/predictions.py).

The collection travels through `tune.with_parameters` (Ray's object store, once per node), not
in the config: the config stays the flat, JSON-able trial config that params.json records.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

from typing import TYPE_CHECKING

import pyarrow.fs
from ray import tune

from study.contract import FINAL_FILE, MODEL_FILE, STATE_FILE, final_checkpoint
from study.run.checkpoint_pace import DEFAULT_SHARE, CheckpointPace

if TYPE_CHECKING:
    from study.trial.predictions import Predictions


class ArrowFiles:
    """Ray's storage (a local folder or s3://...) through its pyarrow filesystem, as
    `study.contract.final_checkpoint` looks at a trial folder."""

    def __init__(self, filesystem: pyarrow.fs.FileSystem) -> None:
        self.filesystem = filesystem

    def subfolders(self, path: str) -> list[str]:
        try:
            entries = self.filesystem.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
        except OSError:  # storage unreachable: treat as unfinished, Ray reports the trial's own error
            return []
        return [e.base_name for e in entries if e.type == pyarrow.fs.FileType.Directory]

    def is_file(self, path: str) -> bool:
        return self.filesystem.get_file_info(path).type == pyarrow.fs.FileType.File

    def join(self, folder: str, name: str) -> str:
        return f"{folder}/{name}"


def train(config: dict, collection=None, threads: float = 1, checkpoint_share: float = DEFAULT_SHARE) -> None:
    """Run one trial; `threads` is the trial's CPU share (torch would otherwise use every core);
    `checkpoint_share` the most of its time epoch checkpoints may take (1: every epoch)."""
    # The trial's torch loads here, in Ray's worker: the driver that hands `train` to Tune never imports it.
    import torch

    from study.trial.allocator import keep_freed_memory
    from study.trial.run_trial import load_state, run_trial, save_state

    torch.set_num_threads(max(1, int(round(threads))))
    keep_freed_memory()  # glibc: reuse freed activations instead of mapping them anew each step
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)  # a line per checkpoint
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        if final_checkpoint(str(Path(checkpoint.path).parent), ArrowFiles(checkpoint.filesystem)) is not None:
            # Finished before an interruption the experiment state had not caught up with (it may
            # still name an epoch checkpoint): the final row is in result.json and the final
            # checkpoint beside this one, so train nothing and report nothing again.
            return
        with checkpoint.as_directory() as folder:
            state = load_state(Path(folder) / STATE_FILE)

    pace = CheckpointPace(checkpoint_share, clock=time.monotonic)

    def on_epoch(metrics: dict, epoch_state: dict) -> None:
        if not pace.due():
            tune.report(dict(metrics))
            return
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="artstudy-ckpt-") as folder:
            save_state(epoch_state, Path(folder) / STATE_FILE)
            # report() persists the checkpoint to the trial folder before returning.
            tune.report(dict(metrics), checkpoint=tune.Checkpoint.from_directory(folder))
        pace.done(started)

    best_model: dict = {}

    def on_end(final: dict, model: dict) -> None:
        model["origin"]["trial"] = tune.get_context().get_trial_id()  # what a later trial's weights_used names
        best_model["payload"] = model

    def on_predictions(predictions: Predictions) -> None:
        best_model["predictions"] = predictions

    # announce_fallback=False: the runner says once, before any trial, which backbones have no ImageNet
    # file (cli.check_weights), and each trial's weights_used records it; not one notice per trial.
    final = run_trial(dict(config), on_epoch=on_epoch, state=state, collection=collection, on_end=on_end,
                      on_predictions=on_predictions, announce_fallback=False)
    with tempfile.TemporaryDirectory(prefix="artstudy-final-") as folder:
        if "payload" in best_model:
            torch.save(best_model["payload"], Path(folder) / MODEL_FILE)
        if "predictions" in best_model:
            best_model["predictions"].write(folder)
        (Path(folder) / FINAL_FILE).write_text(json.dumps(final, default=str, indent=1))
        tune.report(dict(final), checkpoint=tune.Checkpoint.from_directory(folder))
