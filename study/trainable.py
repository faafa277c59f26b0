"""The Ray Tune function trainable: `study.trial.run_trial`, reported and checkpointed each epoch.

Each epoch: `tune.report(epoch metrics, checkpoint=<state.pt>)`, where state.pt is the trial's
whole training state (model or head, optimiser, epoch, early-stopping counters) as
`study.trial.save_state` writes it. A trial that Ray restarts (its worker died, or
`python -m study.run --resume`) starts from `tune.get_checkpoint()` and continues with the next
epoch. At the end one more report holds the test metrics (`final`), with a checkpoint holding
`model.pt` (the best epoch's model, which `weights=<that folder>` loads) and `final.json`.

The collection travels through `tune.with_parameters` (Ray's object store, once per node), not
in the config: the config stays the flat, JSON-able trial config that params.json records.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import torch
from ray import tune

from study.trial import load_state, run_trial, save_state

STATE_FILE = "state.pt"  # an epoch checkpoint: what run_trial(state=...) resumes from
MODEL_FILE = "model.pt"  # the final checkpoint: the best model (study.trial's on_end payload)
FINAL_FILE = "final.json"  # the final checkpoint: the test metrics, also reported


def train(config: dict, collection=None, threads: float = 1) -> None:
    """Run one trial; `threads` is the trial's CPU share (torch would otherwise use every core)."""
    torch.set_num_threads(max(1, int(round(threads))))
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)  # a line per checkpoint
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            if (Path(folder) / FINAL_FILE).exists():
                # Finished before an interruption the experiment state had not caught up with:
                # its final row is already in result.json, so report nothing and train nothing.
                return
            state = load_state(Path(folder) / STATE_FILE)

    def on_epoch(metrics: dict, epoch_state: dict) -> None:
        with tempfile.TemporaryDirectory(prefix="artstudy-ckpt-") as folder:
            save_state(epoch_state, Path(folder) / STATE_FILE)
            # report() persists the checkpoint to the trial folder before returning.
            tune.report(dict(metrics), checkpoint=tune.Checkpoint.from_directory(folder))

    best_model: dict = {}

    def on_end(final: dict, model: dict) -> None:
        best_model["payload"] = model

    final = run_trial(dict(config), on_epoch=on_epoch, state=state, collection=collection, on_end=on_end)
    with tempfile.TemporaryDirectory(prefix="artstudy-final-") as folder:
        if "payload" in best_model:
            torch.save(best_model["payload"], Path(folder) / MODEL_FILE)
        (Path(folder) / FINAL_FILE).write_text(json.dumps(final, default=str, indent=1))
        tune.report(dict(final), checkpoint=tune.Checkpoint.from_directory(folder))
