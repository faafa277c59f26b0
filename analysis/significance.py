"""Is one cell really better than another on this test set? Paired tests on the same test images.

Every cell of a task is tested on the same images (one split_seed), so two cells are compared image
by image: McNemar's exact test (a two-sided binomial test on the images exactly one of them gets
right) and a paired bootstrap interval of the accuracy difference (resampling images, both cells'
answers together). With few test images a few points of accuracy are often noise; these say which.

    >>> a, b = read_predictions(dir_a)[0], read_predictions(dir_b)[0]
    >>> compare(a, b)   # {'acc_a': .., 'acc_b': .., 'diff': .., 'ci_low': .., 'ci_high': .., 'p': .., ...}
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError
from analysis.predictions import best_trials, cell_keys, read_predictions
from analysis.tables import MODE_LABEL, Table, fmt_num, ordered, paper_table
from study.config import MODES, PAPER_MODELS

ALPHA = 0.05
RESAMPLES = 2000  # bootstrap resamples: the 2.5% and 97.5% quantiles settle to ~0.1 pp at this count
SEED = 0  # the bootstrap's seed: a report says the same thing each time it is written


def mcnemar_exact(correct_a, correct_b) -> float:
    """Two-sided exact McNemar p-value: of the images exactly one cell gets right, is the split 50:50?"""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0  # no discordant image: no evidence of any difference
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_bootstrap(correct_a, correct_b, *, level: float = 0.95, resamples: int = RESAMPLES,
                     seed: int = SEED) -> tuple[float, float]:
    """Percentile interval of acc(a) - acc(b), resampling test images with both cells' answers paired."""
    diff = np.asarray(correct_a, dtype=float) - np.asarray(correct_b, dtype=float)
    if len(diff) < 2 or np.all(diff == diff[0]):
        return float(diff.mean()) if len(diff) else math.nan, float(diff.mean()) if len(diff) else math.nan
    result = stats.bootstrap((diff,), np.mean, confidence_level=level, n_resamples=resamples, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaNs, tests that could not be made, stay NaN):
    the i-th smallest of m is multiplied by m - i + 1, then made non-decreasing, and capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    return out


def joint_bootstrap(columns: tuple, statistic, *, strata=None, level: float = 0.95, resamples: int = RESAMPLES,
                    seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of every value `statistic(*columns, axis=-1)` returns, resampling the rows of
    `columns` (one row per test image, all columns together) within each stratum of `strata`: (low, high).

    Stratified, which scipy.stats.bootstrap does not offer: a resample keeps each stratum's size (a rung's
    test images among the full rung's), so a statistic over one stratum is defined in every resample."""
    columns = tuple(np.asarray(c, dtype=float) for c in columns)
    strata = np.zeros(len(columns[0])) if strata is None else np.asarray(strata)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    picks = np.concatenate([g[rng.integers(0, len(g), size=(resamples, len(g)))] for g in groups], axis=1)
    values = np.asarray(statistic(*(c[picks] for c in columns), axis=-1))
    alpha = (1 - level) / 2
    return np.quantile(values, alpha, axis=-1), np.quantile(values, 1 - alpha, axis=-1)


def compare(pred_a: pd.DataFrame, pred_b: pd.DataFrame) -> dict:
    """Accuracies, their difference (a - b) with its 95% paired bootstrap interval, and McNemar's p."""
    merged = pred_a[["image_id", "true", "pred"]].merge(pred_b[["image_id", "true", "pred"]], on="image_id",
                                                        how="outer", suffixes=("_a", "_b"), indicator=True)
    unpaired = int((merged["_merge"] != "both").sum())
    if unpaired:
        raise AnalysisError(f"the two trials were tested on different images ({unpaired} not in both): a paired "
                            "test needs one test set (same collection, task, pruning and split_seed)")
    if not (merged["true_a"] == merged["true_b"]).all():
        raise AnalysisError("the two trials give some test image different true classes: different class lists?")
    a, b = (merged["pred_a"] == merged["true_a"]).to_numpy(), (merged["pred_b"] == merged["true_b"]).to_numpy()
    low, high = paired_bootstrap(a, b)
    return {"n": len(merged), "acc_a": a.mean(), "acc_b": b.mean(), "diff": a.mean() - b.mean(), "ci_low": low,
            "ci_high": high, "only_a": int((a & ~b).sum()), "only_b": int((~a & b).sum()), "p": mcnemar_exact(a, b)}


def _pairs(best: pd.DataFrame, keys: list[str], along: str, order) -> list[tuple[pd.Series, pd.Series, dict]]:
    """Every pair of cells that differ only in `along`, in `order`, with their comparison."""
    rest = [k for k in keys if k != along]
    out = []
    groups = best.groupby(rest, dropna=False, sort=False) if rest else [((), best)]
    for _, group in groups:
        rows = {r[along]: r for _, r in group.iterrows()}
        for x, y in itertools.combinations(ordered(list(rows), order), 2):
            out.append((rows[x], rows[y], compare(read_predictions(rows[x]["trial_dir"])[0],
                                                  read_predictions(rows[y]["trial_dir"])[0])))
    return out


def _frame(pairs, keys: list[str], along: str) -> pd.DataFrame:
    rows = []
    for a, b, c in pairs:
        row = {k: a[k] for k in keys if k != along}
        row.update({f"{along}_a": a[along], f"{along}_b": b[along], "n_test": c["n"], "acc_a": 100 * c["acc_a"],
                    "acc_b": 100 * c["acc_b"], "diff": 100 * c["diff"], "ci_low": 100 * c["ci_low"],
                    "ci_high": 100 * c["ci_high"], "only_a": c["only_a"], "only_b": c["only_b"],
                    "p_mcnemar": c["p"], "significant": c["p"] < ALPHA})
        rows.append(row)
    return pd.DataFrame(rows)


def _display(frame: pd.DataFrame, along: str, label=str) -> pd.DataFrame:
    if frame.empty:
        return frame
    keep = [c for c in frame.columns if c not in ("acc_a", "acc_b", "diff", "ci_low", "ci_high", "only_a", "only_b",
                                                 "p_mcnemar", "significant", "n_test", f"{along}_a", f"{along}_b")]
    display = frame[keep].astype(str)
    display["a vs b"] = [f"{label(a)} vs {label(b)}" for a, b in zip(frame[f"{along}_a"], frame[f"{along}_b"])]
    display["a (%)"] = [fmt_num(v) for v in frame["acc_a"]]
    display["b (%)"] = [fmt_num(v) for v in frame["acc_b"]]
    display["a − b (pp) [95% CI]"] = [f"{fmt_num(d, signed=True)} [{fmt_num(lo, signed=True)}, {fmt_num(hi, signed=True)}]"
                                      for d, lo, hi in zip(frame["diff"], frame["ci_low"], frame["ci_high"])]
    display["only a / only b"] = [f"{a} / {b}" for a, b in zip(frame["only_a"], frame["only_b"])]
    display["McNemar p"] = [f"{p:.3g}" + (" *" if s else "") for p, s in zip(frame["p_mcnemar"], frame["significant"])]
    display["n test"] = frame["n_test"].astype(str)
    return display


CAPTION = ("Each cell is represented by its best trial (best nuisance setting, then best seed, both on the "
           "validation metric). a − b: difference in test accuracy on the same test images, with a 95% paired "
           f"bootstrap interval ({RESAMPLES} resamples of the test images). only a / only b: images only one of "
           "them classifies correctly; McNemar p: exact two-sided test on those; * = significant at 5%.")


def mode_comparisons(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                     mode: str = "min") -> Table:
    """Off-the-shelf against fine-tune for each backbone (and every other scientific value), paired."""
    best = best_trials(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    keys = cell_keys(trials, scientific)
    frame = _frame(_pairs(best, keys, "mode", MODES), keys, "mode") if "mode" in keys and len(best) else pd.DataFrame()
    return Table("mode_significance", "Off-the-shelf against fine-tune, on the same test images", frame,
                 _display(frame, "mode", lambda m: MODE_LABEL.get(m, m)), CAPTION)


def backbone_comparisons(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                         mode: str = "min") -> Table:
    """Every pair of backbones within each mode (and task, ...), paired on the same test images."""
    best = best_trials(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    keys = cell_keys(trials, scientific)
    frame = _frame(_pairs(best, keys, "model", PAPER_MODELS), keys, "model") if "model" in keys and len(best) else pd.DataFrame()
    return Table("backbone_significance", "Backbones compared pairwise within each mode, on the same test images",
                 frame, _display(frame, "model"), CAPTION)


def paper_table_marked(trials: pd.DataFrame, experiment, *, scientific=("task", "model", "mode"), nuisance=(),
                       metric: str = "val_loss", mode: str = "min") -> Table:
    """Table 2 (tables.paper_table) with a column saying whether fine-tune's lead is significant at 5%."""
    table = paper_table(trials, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    pairs = mode_comparisons(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric,
                             mode=mode).frame
    keys = [k for k in table.frame.columns if not any(k.startswith(f"{m}_") for m in (*MODES, "mode"))
            and k in pairs.columns]
    if pairs.empty or not keys:
        return table
    lookup = {tuple(str(r[k]) for k in keys): r for _, r in pairs.iterrows()}
    marks, ps = [], []
    for _, row in table.frame.iterrows():
        pair = lookup.get(tuple(str(row[k]) for k in keys))
        if pair is None:
            marks.append("")
            ps.append(math.nan)
            continue
        # pairs are (off_the_shelf, fine_tune): a = off-the-shelf, b = fine-tune
        marks.append(f"{fmt_num(pair['acc_b'] - pair['acc_a'], signed=True)}{' *' if pair['significant'] else ' (n.s.)'}")
        ps.append(pair["p_mcnemar"])
    frame = table.frame.assign(mode_p_mcnemar=ps)
    display = table.display.assign(**{"fine-tune − off-the-shelf (pp)": marks})
    caption = (table.caption + " fine-tune − off-the-shelf: the best trials' difference on the same test images; "
               "* = significant at 5% by McNemar's exact test, n.s. = not (see the off-the-shelf against "
               "fine-tune table).")
    return Table(table.name, table.title, frame, display, caption)
