"""One search, and one ASHA, per scientific cell, inside a single Ray Tune experiment.

Ray's OptunaSearch cannot take `grid_search`, and letting Optuna sample the scientific keys
(model, mode) would give cells unequal numbers of trials and let TPE abandon a backbone that
starts badly: a comparison nobody asked for. So `PerCellSearch` keeps one OptunaSearch per
cell and hands out trials round-robin (every cell gets exactly `samples_per_cell`), and
`PerCellASHA` keeps one ASHAScheduler per cell, so a trial is only ever stopped for being
worse than trials of its own cell. Both pickle whole; Tune checkpoints the searcher itself, and
the scheduler through `KeepSchedulerState`, so `--resume` continues both where they were.
"""

from __future__ import annotations

import pickle
import warnings

from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from search_spaces.registry import Distribution, to_optuna
from study.config import SAMPLERS


def make_sampler(kind: str, seed: int):
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    # Scrambled Sobol points: even coverage from the first few trials, reproducible by seed.
    # batch_size is categorical, which QMC leaves to its independent (random) sampler.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since optuna 3
        return optuna.samplers.QMCSampler(scramble=True, seed=seed, warn_independent_sampling=False,
                                          warn_asynchronous_seeding=False)


def cell_key(config: dict, keys: list[str]) -> str:
    return "|".join(f"{k}={config.get(k)}" for k in keys)


class PickledWhole:
    """Tune's save/restore of a searcher or scheduler: the whole object's attributes, pickled."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


class PerCellSearch(PickledWhole, Searcher):
    def __init__(self, cells: list[dict], space: dict[str, Distribution], samples_per_cell: int,
                 metric: str | None = None, mode: str | None = None, sampler: str | None = None, seed: int = 0):
        super().__init__(metric=metric, mode=mode)
        self._cells = [dict(c) for c in cells]
        self._space = dict(space)
        self._per_cell = int(samples_per_cell)
        self._sampler = sampler or SAMPLERS[0]
        self._seed = int(seed)
        self._searchers: list[OptunaSearch | None] = [None] * len(self._cells)
        self._handed = [0] * len(self._cells)
        self._cell_of: dict[str, int] = {}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True  # the Tuner's param_space holds constants only; the distributions are ours

    def _searcher(self, i: int) -> OptunaSearch:
        if self._searchers[i] is None:
            self._searchers[i] = OptunaSearch(
                space={k: to_optuna(d) for k, d in self._space.items()},
                metric=self._metric, mode=self._mode,
                sampler=make_sampler(self._sampler, self._seed + i),
            )
        return self._searchers[i]

    def suggest(self, trial_id: str):
        open_cells = [i for i, n in enumerate(self._handed) if n < self._per_cell]
        if not open_cells:
            return Searcher.FINISHED
        i = min(open_cells, key=lambda j: (self._handed[j], j))  # round-robin: the emptiest cell first
        params = self._searcher(i).suggest(trial_id)
        if params is None:
            return None
        self._handed[i] += 1
        self._cell_of[trial_id] = i
        return {**self._cells[i], **params}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._cell_of and self._metric in result:
            self._searcher(self._cell_of[trial_id]).on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._cell_of:
            self._searcher(self._cell_of[trial_id]).on_trial_complete(trial_id, result=result, error=error)


class PerCellASHA(PickledWhole, FIFOScheduler):
    """ASHA (asynchronous successive halving) run separately within each scientific cell.

    Each cell's ASHAScheduler is driven through its public methods only: this class remembers which
    trials it has handed to which cell (ASHA keeps its own record private), and counts the stops.
    """

    def __init__(self, cell_keys: list[str], max_t: int, grace_period: int = 1, reduction_factor: float = 3,
                 metric: str | None = None, mode: str | None = None):
        super().__init__()
        self._cell_keys = list(cell_keys)
        self._asha_args = dict(max_t=max(1, int(max_t)), grace_period=min(grace_period, max(1, int(max_t))),
                               reduction_factor=reduction_factor)
        self._metric, self._mode = metric, mode
        self._cells: dict[str, ASHAScheduler] = {}
        self._members: dict[str, str] = {}  # trial id -> the cell whose ASHA knows it
        self.stopped = 0  # trials this scheduler stopped early, all cells together

    def set_search_properties(self, metric, mode, **spec) -> bool:
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def _for(self, trial) -> ASHAScheduler:
        key = cell_key(trial.config, self._cell_keys)
        if key not in self._cells:
            self._cells[key] = ASHAScheduler(metric=self._metric, mode=self._mode, **self._asha_args)
        return self._cells[key]

    def _add(self, tune_controller, trial) -> None:
        self._for(trial).on_trial_add(tune_controller, trial)
        self._members[trial.trial_id] = cell_key(trial.config, self._cell_keys)

    def on_trial_add(self, tune_controller, trial) -> None:
        self._add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if trial.trial_id not in self._members:  # a trial restored by Tuner.restore is not added again
            self._add(tune_controller, trial)
        action = self._for(trial).on_trial_result(tune_controller, trial, result)
        if action == self.STOP:
            self.stopped += 1
        return action

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if self._members.pop(trial.trial_id, None) is not None:
            self._for(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        if self._members.pop(trial.trial_id, None) is not None:
            self._for(trial).on_trial_remove(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial) -> None:
        self.on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return f"Using ASHA within each of {len(self._cells)} cells: {self.stopped} trials stopped early"

    def get_state(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k in ("_cells", "_members", "stopped")}

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)


class KeepSchedulerState(Callback):
    """Carries a PerCellASHA's rungs through `--resume`.

    Tune checkpoints the searcher and the callbacks with the experiment, but not the scheduler: a
    restored experiment gets the scheduler as it was pickled when the Tuner was made, empty, and a
    resumed trial would then be judged against no earlier results. Callbacks' states are saved
    (get_state) and restored (set_state) by Tune's public API, and the Tuner's pickle keeps this
    callback and the scheduler one object, so restoring the callback restores the scheduler.
    """

    def __init__(self, scheduler: PerCellASHA) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict | None:
        return {"scheduler": pickle.dumps(self.scheduler.get_state())}

    def set_state(self, state: dict) -> None:
        self.scheduler.set_state(pickle.loads(state["scheduler"]))
