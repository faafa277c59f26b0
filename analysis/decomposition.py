"""The label-count study, decomposed: does a rung score higher because its test is easier, or because its
model learnt better from fewer, larger classes?

For each series (model x mode, and weights, head_fit where they vary) and each rung of classes kept:

    own         the rung's own model, retrained on the kept classes (today's curve)
    restricted  the full rung's model on the rung's test images, its logits restricted to the rung's classes:
                the same model on the easier test (pruning precedes the per-image split, so every rung's test
                images are a subset of the full rung's)
    chance      the majority class of the rung's training split, and 1/K

each as accuracy and as Cohen's kappa (chance-corrected). The gain over the full rung (own - full) splits into
"easier test" (restricted - full) and "retraining" (own - restricted); each part's 95% interval resamples the
full rung's test images (the rung's among them), all answers together, so the parts stay paired.

    >>> decomposition_frame(trials, path, scientific=..., nuisance=..., metric="val_loss", mode="min")
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from analysis.intervals import wilson
from analysis.labels import value_label
from analysis.logits import read_logits, restrict
from analysis.predictions import best_trials, cell_keys, read_predictions
from analysis.significance import RESAMPLES, joint_bootstrap
from analysis.tables import Table, fmt_num

RUNG_KEYS = ("top_k", "min_per_class")
KAPPA_RESAMPLES = 300  # sklearn's kappa is one call per resample: enough for a plotted interval


def kappa(truth, answer) -> float:
    """Cohen's kappa of the answers against the truth; NaN where it is undefined (one class only: pe = 1)."""
    truth, answer = [str(t) for t in truth], [str(a) for a in answer]
    if len(truth) == 0 or len(set(truth) | set(answer)) < 2:
        return math.nan
    return float(cohen_kappa_score(truth, answer))


def kappa_interval(truth, answer, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of kappa, resampling test images."""
    from scipy import stats

    truth, answer = np.asarray([str(t) for t in truth]), np.asarray([str(a) for a in answer])
    if len(truth) < 2 or math.isnan(kappa(truth, answer)):
        return math.nan, math.nan
    codes = {label: i for i, label in enumerate(sorted(set(truth) | set(answer)))}
    t, a = np.array([codes[x] for x in truth]), np.array([codes[x] for x in answer])
    with warnings.catch_warnings():  # a resample holding one class has no kappa: NaN, left out of the quantiles
        warnings.simplefilter("ignore")
        res = stats.bootstrap((t, a), lambda x, y: kappa(x, y), paired=True, vectorized=False,
                              confidence_level=level, n_resamples=KAPPA_RESAMPLES, method="percentile",
                              rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _parts(in_rung, full, restricted, own, axis=-1):
    """(total, easier test, retraining) gains of one resample: own - full, restricted - full, own - restricted."""
    kept = in_rung.sum(axis)
    r, o = (restricted * in_rung).sum(axis) / kept, (own * in_rung).sum(axis) / kept
    f = full.mean(axis)
    return np.stack([o - f, r - f, o - r])


def series_keys(best: pd.DataFrame, keys: list[str]) -> list[str]:
    return [k for k in keys if k not in RUNG_KEYS]


def decomposition_frame(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                        mode: str = "min") -> pd.DataFrame:
    """One row per series and rung (the full rung included): classes, n_test, the accuracies (%) and kappas of
    own, restricted and chance, and the gains (points) with their intervals; `problem` where none could be made.

    Kept per experiment and selection while the trials stay as they are: the report's sentences, figure and
    table draw on one computation (its bootstrap of kappa calls scikit-learn once per resample)."""
    key = (str(experiment), tuple(scientific), tuple(nuisance), metric, mode,
           tuple(map(tuple, trials[["trial", "status"]].astype(str).to_numpy())) if len(trials) else ())
    if key not in _FRAMES:
        _FRAMES.clear()  # one experiment at a time: the cache never grows past one
        _FRAMES[key] = _frame(trials, experiment, scientific, nuisance, metric, mode)
    return _FRAMES[key].copy()


_FRAMES: dict = {}


def _frame(trials, experiment, scientific, nuisance, metric, mode) -> pd.DataFrame:
    best = best_trials(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    keys = cell_keys(trials, scientific)
    series = series_keys(best, keys)
    rows = []
    groups = best.groupby(series, dropna=False, sort=False) if series and len(best) else [((), best)]
    for _, group in groups:
        loaded = [(r, *read_predictions(r["trial_dir"])) for _, r in group.iterrows()]
        loaded.sort(key=lambda item: -len(item[2]))
        if not loaded:
            continue
        name = ", ".join(value_label(k, loaded[0][0][k]) for k in series if best[k].astype(str).nunique() > 1)
        rows += _series_rows(name, loaded)
    return pd.DataFrame(rows)


def _series_rows(name: str, loaded: list) -> list[dict]:
    full_row, full_pred, _ = loaded[0]
    saved = read_logits(full_row["trial_dir"])
    full_right = (full_pred["pred"] == full_pred["true"]).to_numpy()
    full_ids = full_pred["image_id"].astype(str).to_numpy()
    out = []
    for row, pred, classes in loaded:
        labels = classes["label"].astype(str).tolist()
        truth = pred["true_label"].astype(str).to_numpy()
        own = np.where(pred["pred"].to_numpy() >= 0, pred["pred_label"].astype(str).to_numpy(), None)
        n_train = classes.set_index(classes["label"].astype(str))["n_train"]
        majority = str(n_train.idxmax()) if len(n_train) else None
        entry = {"series": name, "classes": len(labels), "full": row is full_row, "n_test": len(truth),
                 "own": 100 * np.mean(own == truth) if len(truth) else math.nan,
                 "own_kappa": kappa(truth, own), "majority": 100 * np.mean(truth == majority) if len(truth) else math.nan,
                 "uniform": 100 / len(labels) if labels else math.nan, "full_acc": 100 * full_right.mean(),
                 "trial": row["trial"], "problem": ""}
        entry["own_low"], entry["own_high"] = (100 * v for v in wilson(entry["own"] / 100, len(truth)))
        entry["own_kappa_low"], entry["own_kappa_high"] = kappa_interval(truth, own)
        answer = restrict(saved, pred["image_id"], labels) if saved is not None else None
        if answer is None or not set(pred["image_id"].astype(str)) <= set(full_ids):
            entry["problem"] = ("the full rung saved no test logits" if saved is None else
                                "the rung's test images or classes are not among the full rung's")
            out.append(entry)
            continue
        restricted_right = answer == truth
        entry.update(restricted=100 * restricted_right.mean() if len(truth) else math.nan,
                     restricted_kappa=kappa(truth, answer))
        entry["restricted_low"], entry["restricted_high"] = (100 * v for v in wilson(entry["restricted"] / 100,
                                                                                       len(truth)))
        entry["restricted_kappa_low"], entry["restricted_kappa_high"] = kappa_interval(truth, answer)
        if row is not full_row:
            entry.update(_gains(full_ids, full_right, pred["image_id"].astype(str).to_numpy(), restricted_right,
                                own == truth))
        out.append(entry)
    return out


def _gains(full_ids, full_right, rung_ids, restricted_right, own_right) -> dict:
    """The three gains (points) over the full rung and their joint bootstrap intervals."""
    position = {image_id: i for i, image_id in enumerate(full_ids)}
    in_rung, restricted, own = (np.zeros(len(full_ids)) for _ in range(3))
    at = [position[i] for i in rung_ids]
    in_rung[at], restricted[at], own[at] = 1, restricted_right, own_right
    values = _parts(in_rung, full_right.astype(float), restricted, own)
    low, high = joint_bootstrap((in_rung, full_right, restricted, own), _parts, strata=in_rung)
    out = {}
    for i, part in enumerate(("gain", "easier", "retraining")):
        out.update({part: 100 * values[i], f"{part}_low": 100 * low[i], f"{part}_high": 100 * high[i]})
    return out


def dominant(row) -> str:
    """Which part of the gain dominates, and whether either interval excludes 0."""
    if not isinstance(row.get("gain"), float) or math.isnan(row["gain"]):
        return ""
    parts = {"the easier test": (row["easier"], row["easier_low"], row["easier_high"]),
             "retraining": (row["retraining"], row["retraining_low"], row["retraining_high"])}
    big = max(parts, key=lambda k: abs(parts[k][0]))
    clear = [k for k, (_, lo, hi) in parts.items() if lo > 0 or hi < 0]
    sure = (f"; only {' and '.join(clear)} {'has an interval' if len(clear) == 1 else 'have intervals'} "
            "that excludes 0") if clear and len(clear) < 2 else ("; both intervals exclude 0" if clear else
                                                                   "; neither interval excludes 0")
    return f"{big} dominates{sure}"


def sentences(frame: pd.DataFrame) -> list[str]:
    """One sentence per series: at its smallest rung of two classes or more, which part of the gain dominates."""
    out = []
    if frame.empty:
        return out
    frame = frame if "gain" in frame else frame.assign(gain=math.nan)  # no rung could be decomposed
    for name, group in frame.groupby("series", sort=False):
        rungs = group[(~group["full"]) & (group["classes"] >= 2) & group["gain"].notna()]
        if rungs.empty:
            problem = next((p for p in group["problem"] if p), "no smaller rung of two classes or more")
            out.append(f"{name or 'The series'}: no decomposition ({problem}).")
            continue
        r = rungs.sort_values("classes").iloc[0]
        full = group[group["full"]].iloc[0]
        out.append(f"{name or 'The series'}: at {r['classes']} classes kept, the gain of "
                   f"{fmt_num(r['gain'], 1, signed=True)} points over the full rung's {full['classes']} classes splits into "
                   f"{fmt_num(r['easier'], 1, signed=True)} [{fmt_num(r['easier_low'], 1, signed=True)}, "
                   f"{fmt_num(r['easier_high'], 1, signed=True)}] from the easier test and "
                   f"{fmt_num(r['retraining'], 1, signed=True)} [{fmt_num(r['retraining_low'], 1, signed=True)}, "
                   f"{fmt_num(r['retraining_high'], 1, signed=True)}] from retraining: {dominant(r)} "
                   f"({r['n_test']} test images).")
    return out


CAPTION = ("One row per rung and series, against the full rung (every class kept). gain = the rung's own model's "
           "test accuracy minus the full rung's model's on all its test images; easier test = the full rung's "
           "model on the rung's test images, its logits restricted to the rung's classes, minus its full-test "
           "accuracy; retraining = the rung's own model minus that restricted one; gain = easier test + "
           f"retraining. [..] = 95% paired bootstrap intervals ({RESAMPLES} resamples of the full rung's test "
           "images, the rung's and the others each among themselves, every answer kept with its image). kappa = Cohen's kappa; majority = "
           "always answering the rung's most frequent training class.")


def _ci(frame: pd.DataFrame, part: str) -> list[str]:
    return [f"{fmt_num(v, 1, signed=True)} [{fmt_num(lo, 1, signed=True)}, {fmt_num(hi, 1, signed=True)}]"
            for v, lo, hi in zip(frame[part], frame[f"{part}_low"], frame[f"{part}_high"])]


def decomposition_table(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                        mode: str = "min") -> Table:
    """tables/pruning_decomposition: the gain over the full rung, split into easier test and retraining."""
    frame = decomposition_frame(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric,
                                mode=mode)
    columns = ["series", "classes", "n_test", "full_acc", "restricted", "own", "own_kappa", "restricted_kappa",
               "majority", "uniform", "gain", "gain_low", "gain_high", "easier", "easier_low", "easier_high",
               "retraining", "retraining_low", "retraining_high", "problem"]
    frame = frame[~frame["full"]].reindex(columns=columns).reset_index(drop=True) if len(frame) else \
        pd.DataFrame(columns=columns)
    display = pd.DataFrame({
        "series": frame["series"].astype(str), "classes kept": frame["classes"].astype(str),
        "n test": frame["n_test"].astype(str), "full rung (%)": [fmt_num(v, 1) for v in frame["full_acc"]],
        "restricted (%)": [fmt_num(v, 1) for v in frame["restricted"]],
        "own (%)": [fmt_num(v, 1) for v in frame["own"]],
        "kappa own / restricted": [f"{fmt_num(a)} / {fmt_num(b)}" for a, b in
                                   zip(frame["own_kappa"], frame["restricted_kappa"])],
        "majority / 1/K (%)": [f"{fmt_num(a, 1)} / {fmt_num(b, 1)}" for a, b in zip(frame["majority"], frame["uniform"])],
        "gain (pp)": _ci(frame, "gain"), "easier test (pp)": _ci(frame, "easier"),
        "retraining (pp)": _ci(frame, "retraining")})
    return Table("pruning_decomposition", "Classes kept: the easier test against retraining", frame, display,
                 CAPTION)
