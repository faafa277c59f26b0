"""One console line per trial event, instead of Ray Tune's tables (the runner sets verbose=0).

    [ 3/30] t1a2b3_00002 model=vgg19 mode=fine_tune task=type: epoch 2 val_acc 0.412 (31 s/epoch)
    [ 3/30] t1a2b3_00002 done: val_acc 0.455 test_acc 0.430 (best epoch 3 of 5, 160 s)
"""

from __future__ import annotations

import time

from ray.tune import Callback

from study.formatting import format_value
from study.run.experiment import trial_name


class ProgressLines(Callback):
    def __init__(self, keys: list[str], total: int):
        self.keys = list(keys)  # the config keys that tell trials apart (a space's cell keys)
        self.total = total
        self.index: dict[str, int] = {}
        self.started: dict[str, float] = {}

    def _name(self, trial) -> str:
        if trial.trial_id not in self.index:
            self.index[trial.trial_id] = len(self.index) + 1
        cell = " ".join(f"{k}={format_value(trial.config.get(k), digits=3)}" for k in self.keys if k in trial.config)
        return f"[{self.index[trial.trial_id]:>{len(str(self.total))}}/{self.total}] {trial_name(trial)} {cell}"

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started[trial.trial_id] = time.monotonic()
        print(f"{self._name(trial)}: started", flush=True)

    def on_trial_restore(self, iteration, trials, trial, **info):
        print(f"{self._name(trial)}: restored from its last checkpoint", flush=True)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "epoch" in result:
            # "checkpointed": the epoch a crash now restarts after (the pace skips some: checkpoint_pace.py)
            saved = ", checkpointed" if result.get("checkpoint_dir_name") else ""
            print(f"{self._name(trial)}: epoch {result['epoch']} val_acc {result.get('val_acc', float('nan')):.3f} "
                  f"val_loss {result.get('val_loss', float('nan')):.3f} ({result.get('epoch_time_s', 0):.0f} s{saved})",
                  flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = trial.last_result or {}
        took = time.monotonic() - self.started.get(trial.trial_id, time.monotonic())
        if "test_acc" in result:
            print(f"{self._name(trial)}: done: val_acc {result.get('val_acc', float('nan')):.3f} test_acc "
                  f"{result['test_acc']:.3f} (best epoch {result.get('best_epoch')} of {result.get('epochs_run')}, "
                  f"{took:.0f} s; weights {result.get('weights_used')})", flush=True)
        else:
            print(f"{self._name(trial)}: stopped early by the scheduler after {result.get('epoch', '?')} epochs",
                  flush=True)

    def on_trial_recover(self, iteration, trials, trial, **info):
        print(f"{self._name(trial)}: failed; Ray retries it from its last checkpoint", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"{self._name(trial)}: ERROR (see {trial.path}/error.txt)", flush=True)
