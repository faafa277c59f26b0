"""What a study compares, what it optimises away, and how: the tuning playbook's roles, applied to trials.

Every hyperparameter of a space is *scientific* (the effect measured: model, mode, labels kept),
*nuisance* (tuned so the comparison is fair: lr, weight decay) or *fixed*. The runner writes the roles
into study.json; where it is missing they are guessed from what varies (and the report says so).
Seeds are *replicates*: repeated to measure spread, averaged over, never optimised ("best seed" would be
cherry-picking), whatever role a space gives them, unless it calls them scientific.

    >>> best = optimise_away(trials, ["model", "mode"], ["lr"], metric="val_acc", mode="max")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from study.config import MONITORS, TrialConfig  # pure Python: no torch, no Ray

# The trial config's defaults that analysis needs when params.json leaves a key out (or holds null).
DEFAULTS = {key: getattr(TrialConfig, key) for key in ("collection", "task", "model", "mode", "monitor", "top_k",
                                                       "min_per_class", "seed", "split_seed")}
REPLICATE_KEYS = ("seed", "split_seed")
# When study.json is missing: keys that are scientific if they vary; everything else that varies is nuisance.
LIKELY_SCIENTIFIC = ("collection", "task", "model", "mode", "weights", "head_fit", "top_k", "min_per_class",
                     "trainable_blocks", "augment", "image_size", "split")
# Keys that are plumbing, never part of a comparison.
PLUMBING_KEYS = ("data_root", "cache_dir", "num_workers", "feature_cache")


def direction(metric: str) -> str:
    """'min' or 'max': the better way for `metric` (losses go down, accuracies up)."""
    if metric in MONITORS:
        return MONITORS[metric]
    return "min" if "loss" in metric else "max"


@dataclass(frozen=True)
class Roles:
    scientific: tuple[str, ...] = ()
    nuisance: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    replicates: tuple[str, ...] = ()  # varied, averaged over (seeds)
    guessed: bool = False  # True when study.json did not give them
    notes: tuple[str, ...] = field(default=())


def varied_keys(trials: pd.DataFrame, keys) -> list[str]:
    """The keys among `keys` that take more than one value across `trials` (a missing value counts as one)."""
    out = []
    for key in keys:
        if key in trials.columns and trials[key].astype(str).nunique(dropna=False) > 1:
            out.append(key)
    return out


def varied_within_cells(trials: pd.DataFrame, keys, cell_keys) -> list[str]:
    """The keys among `keys` that vary among the trials of one cell of `cell_keys` (the declared scientific
    keys). A key that varies only between cells is their consequence, not a comparison: the paper's optimiser
    follows the mode, image_size raised to each backbone's minimum follows the model."""
    cell_keys = [k for k in cell_keys if k in trials.columns]
    varied = varied_keys(trials, keys)
    if not cell_keys or not varied:
        return varied
    cells = _key(trials, cell_keys)
    return [k for k in varied if (trials[k].astype(str).groupby(cells).nunique(dropna=False) > 1).any()]


def resolve_roles(study: dict, trials: pd.DataFrame, config_keys: list[str]) -> Roles:
    """The roles from study.json, or guessed from what varies; seeds moved to replicates."""
    declared = study.get("roles") if isinstance(study.get("roles"), dict) else None
    notes = []
    if declared:
        scientific = [k for k in declared.get("scientific", []) if k not in PLUMBING_KEYS]
        nuisance = list(declared.get("nuisance", []))
        fixed = list(declared.get("fixed", []))
        guessed = False
        # A key the space holds fixed but the trials vary (the demo runs weights=imagenet and none) is compared:
        # the roles follow the trials, not the declaration.
        # only keys that name what a trial is (weights, head_fit, ...): a stray monitor or batch size is no study
        candidates = [k for k in LIKELY_SCIENTIFIC if k in config_keys and k not in scientific + nuisance]
        moved = varied_within_cells(trials, candidates, scientific)
        if moved:
            scientific += moved
            fixed = [k for k in fixed if k not in moved]
            notes.append(f"{', '.join(moved)} not declared scientific, but varied within one scientific cell: "
                         "compared as scientific")
    else:
        varied = varied_keys(trials, [k for k in config_keys if k not in PLUMBING_KEYS])
        scientific = [k for k in varied if k in LIKELY_SCIENTIFIC]
        nuisance = [k for k in varied if k not in LIKELY_SCIENTIFIC and k not in REPLICATE_KEYS]
        fixed = [k for k in config_keys if k not in varied and k not in PLUMBING_KEYS]
        guessed = True
    replicates = [k for k in REPLICATE_KEYS if k not in scientific and k in varied_keys(trials, [k])]
    if any(k in nuisance for k in replicates):
        notes.append(f"{', '.join(k for k in replicates if k in nuisance)} averaged over as replicates, "
                     "not optimised (the space lists them as nuisance)")
    nuisance = [k for k in nuisance if k not in replicates]
    fixed = [k for k in fixed if k not in replicates]
    return Roles(tuple(scientific), tuple(nuisance), tuple(fixed), tuple(replicates), guessed, tuple(notes))


_LOG_UNIFORM = re.compile(r"^log-uniform\[([^,\]]+),\s*([^\]]+)\]$")


def declared_bounds(study: dict) -> dict[str, dict]:
    """The searched keys' declared ranges: study.json's `bounds` ({key: {"kind", "low", "high"}}), else parsed
    from an older study.json's `distributions` ("log-uniform[1e-05, 0.1]"); {} for a grid."""
    if isinstance(study.get("bounds"), dict):
        return {k: v for k, v in study["bounds"].items() if isinstance(v, dict) and {"low", "high"} <= set(v)}
    out = {}
    for key, text in (study.get("distributions") or {}).items():
        match = _LOG_UNIFORM.match(str(text))
        if match:
            out[key] = {"kind": "loguniform", "low": float(match.group(1)), "high": float(match.group(2))}
    return out


def selection_metric(study: dict, trials: pd.DataFrame) -> tuple[str, str]:
    """(metric, 'min'|'max') used to choose between nuisance settings: study.json's, else the trials' monitor."""
    metric = study.get("metric")
    if isinstance(metric, str) and metric:
        mode = study.get("mode") if study.get("mode") in ("min", "max") else direction(metric)
        return metric, mode
    if "monitor" in trials.columns and trials["monitor"].notna().any():
        metric = str(trials["monitor"].mode().iloc[0])
    else:
        metric = DEFAULTS["monitor"]
    return metric, direction(metric)


def _key(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One string per row naming its values of `cols` (missing values included), for grouping."""
    if not cols:
        return pd.Series("", index=frame.index, dtype=object)
    return pd.Series(["|".join(map(repr, row)) for row in frame[cols].itertuples(index=False)], index=frame.index,
                     dtype=object)


def _keys(trials: pd.DataFrame, keys) -> list[str]:
    return [k for k in keys if k in trials.columns]


def optimise_away(trials: pd.DataFrame, scientific, nuisance, metric: str, mode: str) -> pd.DataFrame:
    """For each scientific combination, the trials of its best nuisance setting (all their seeds).

    Settings are compared on `metric` (a validation metric at each trial's best epoch, never a test
    metric) averaged over replicates. Only trials that are done (finished, or stopped by a scheduler)
    compete; running ones would be compared on fewer epochs. Adds `settings_tried` (how many nuisance
    settings the scientific combination had) and `selection_value` (the winning setting's mean).
    """
    done = trials[trials["status"].isin(["finished", "stopped"])] if "status" in trials else trials
    if metric not in done.columns:
        return done.iloc[0:0].assign(settings_tried=pd.Series(dtype="int64"),
                                     selection_value=pd.Series(dtype="float64"))
    done = done[done[metric].notna()]
    sci = _keys(done, scientific)
    nui = varied_keys(done, _keys(done, nuisance))
    if done.empty:
        return done.assign(settings_tried=pd.Series(dtype="int64"), selection_value=pd.Series(dtype="float64"))
    # One "setting" = one nuisance combination; key it by a string so NaN and odd types group safely.
    setting, sci_key = _key(done, nui), _key(done, sci)
    keyed = done.assign(_sci=sci_key, _setting=setting)
    means = keyed.groupby(["_sci", "_setting"], sort=False)[metric].mean().reset_index()
    chosen = []
    for sci_value, group in means.groupby("_sci", sort=False):
        best = group[metric].idxmax() if mode == "max" else group[metric].idxmin()
        chosen.append((sci_value, group.loc[best, "_setting"], len(group), group.loc[best, metric]))
    picks = pd.DataFrame(chosen, columns=["_sci", "_setting", "settings_tried", "selection_value"])
    out = keyed.merge(picks, on=["_sci", "_setting"], how="inner")
    return out.drop(columns=["_sci", "_setting"])
