"""Each trial's saved test predictions, and the one trial that stands for each scientific cell.

A finished trial's final checkpoint (`<trial>/checkpoint_*/`, the one holding final.json) has
predictions.csv (one row per test image: image_id, true, true_label, pred, pred_label, topN_label,
topN_prob) and classes.csv (class, label, n_train, n_val, n_test), as study/trial/predictions.py
writes them. Read with pandas only.

A *cell* is one combination of the scientific hyperparameters (task x model x mode, ...). Its best
trial is chosen as the tables choose: the nuisance setting with the best mean validation metric
(`roles.optimise_away`), then, among that setting's seeds, the trial with the best validation value.
Test metrics never choose.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError
from analysis.labels import weights_label
from analysis.roles import REPLICATE_KEYS, optimise_away, varied_keys
from study.contract import CLASSES_FILE, PREDICTIONS_FILE, final_checkpoint

def has_predictions(trial_dir: Path) -> bool:
    folder = final_checkpoint(trial_dir)
    return folder is not None and (folder / PREDICTIONS_FILE).exists() and (folder / CLASSES_FILE).exists()


def read_predictions(trial_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(predictions, classes) of a finished trial; None when it saved none (not finished, or an older artstudy)."""
    folder = final_checkpoint(trial_dir)
    if folder is None or not (folder / PREDICTIONS_FILE).exists() or not (folder / CLASSES_FILE).exists():
        return None
    try:
        predictions = pd.read_csv(folder / PREDICTIONS_FILE, dtype={"image_id": str})
        classes = pd.read_csv(folder / CLASSES_FILE)
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{folder} has predictions that cannot be read ({exc}); rerun the trial") from exc
    return predictions, classes


def cell_keys(trials: pd.DataFrame, scientific) -> list[str]:
    """The scientific keys that tell cells apart (seeds are replicates, not cells)."""
    keys = [k for k in ("task", "model", "mode") if k in trials.columns]
    keys += [k for k in varied_keys(trials, [k for k in scientific if k in trials.columns]) if k not in keys]
    return [k for k in keys if k not in REPLICATE_KEYS]


def best_trials(trials: pd.DataFrame, experiment: Path, *, scientific=(), nuisance=(), metric: str = "val_loss",
                mode: str = "min") -> pd.DataFrame:
    """One row per cell: its best finished trial that saved predictions, with `trial_dir` added."""
    keys = cell_keys(trials, scientific)
    chosen = optimise_away(trials, keys, nuisance, metric, mode)
    if chosen.empty:
        return chosen.assign(trial_dir=pd.Series(dtype=object))
    chosen = chosen[chosen["status"] == "finished"].copy()
    chosen["trial_dir"] = [Path(experiment) / str(t) for t in chosen["trial"]]
    chosen = chosen[[has_predictions(d) for d in chosen["trial_dir"]]] if len(chosen) else chosen
    if chosen.empty:
        return chosen
    ascending = mode != "max"
    ranked = chosen.sort_values(metric, ascending=ascending, kind="stable")
    return ranked.drop_duplicates(keys, keep="first").reset_index(drop=True) if keys else ranked.head(1)


def cell_name(row: pd.Series, keys) -> str:
    """"model=resnet50, mode=fine_tune, weights=stage 1: demo/material, trial 00000": a checkpoint as
    weights_label names it, not its absolute path (which would squeeze a legend or a title to nothing)."""
    return ", ".join(f"{k}={weights_label(row[k]) if k == 'weights' else row[k]}" for k in keys)
