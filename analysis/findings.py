"""The report's answer first: every scientific contrast the experiment holds, tested on shared test images.

For each scientific hyperparameter that varies (weights, mode, head_fit, model, top_k, ...), each pair of its
values is compared inside matched cells: all other scientific values equal, each cell represented by its best
trial (nuisance optimised away on the study's validation metric, as everywhere in the report). The two
trials are joined on image_id: the difference in accuracy, a 95% paired bootstrap interval, McNemar's exact
p, and Holm's adjustment across all of these comparisons. Where the test sets differ because fewer classes
were kept (top_k), the trial with more classes answers the other's test through its logits restricted to the
other's classes (analysis/logits.py); where that is impossible, the finding says why no paired test applies.

    >>> findings_frame(trials, path, scientific=..., nuisance=..., metric="val_loss", mode="min")
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from analysis.labels import value_label
from analysis.logits import read_logits, restrict
from analysis.predictions import best_trials, cell_keys, read_predictions
from analysis.significance import RESAMPLES, holm, mcnemar_exact, paired_bootstrap
from analysis.tables import TASK_ORDER, Table, fmt_num, ordered
from study.config import HEAD_FITS, MODES, PAPER_MODELS

ORDER = {"weights": ("imagenet", "none"), "mode": MODES, "head_fit": HEAD_FITS, "model": PAPER_MODELS,
         "task": TASK_ORDER}
NOT_CONTRASTS = ("task",)
FIRST = ("weights", "mode", "head_fit", "top_k", "min_per_class")  # the treatments first; backbones, many pairs, last  # tasks are different questions, not a treatment: never compared with each other


def paired_answers(row_a: pd.Series, row_b: pd.Series) -> tuple[np.ndarray, np.ndarray, str] | str:
    """(a right?, b right?, how) per shared test image, or the reason no paired test applies.

    Same test images and classes: each trial's own answers. Otherwise, when one trial's images and classes
    are a subset of the other's, the larger trial answers through its logits restricted to the smaller's classes."""
    (pred_a, classes_a), (pred_b, classes_b) = read_predictions(row_a["trial_dir"]), read_predictions(row_b["trial_dir"])
    labels_a, labels_b = classes_a["label"].astype(str).tolist(), classes_b["label"].astype(str).tolist()
    ids_a, ids_b = set(pred_a["image_id"]), set(pred_b["image_id"])
    if ids_a == ids_b and labels_a == labels_b:
        merged = pred_a.merge(pred_b, on="image_id", suffixes=("_a", "_b"))
        return ((merged["pred_a"] == merged["true_a"]).to_numpy(), (merged["pred_b"] == merged["true_b"]).to_numpy(),
                "same test images")
    for small, large, swap in ((pred_a, row_b, False), (pred_b, row_a, True)):
        own_labels, other_labels = (labels_a, labels_b) if not swap else (labels_b, labels_a)
        other_ids = ids_b if not swap else ids_a
        if not (set(small["image_id"]) <= other_ids and set(own_labels) <= set(other_labels)):
            continue
        saved = read_logits(large["trial_dir"])
        if saved is None:
            return "different test sets, and the trial with more classes saved no test logits to restrict"
        answer = restrict(saved, small["image_id"], own_labels)
        if answer is None:
            return "the saved test logits lack some of the shared images or classes"
        own = (small["pred"] == small["true"]).to_numpy()
        other = answer == small["true_label"].astype(str).to_numpy()
        kept = f"{len(own_labels)} class" + ("" if len(own_labels) == 1 else "es")
        how = f"the {len(other_labels)}-class model's logits restricted to the {kept}"
        return (other, own, how) if swap else (own, other, how)
    return "different test images that neither contains the other's"


def findings_frame(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                   mode: str = "min") -> pd.DataFrame:
    """One row per comparison: along, a, b, the matched cell, n_test, acc_a, acc_b, diff (points), ci_low,
    ci_high, p_mcnemar, p_holm, how (or why no paired test), sentence."""
    best = best_trials(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    keys = cell_keys(trials, scientific)
    rows = []
    varied = [k for k in keys if k not in NOT_CONTRASTS and k in best and best[k].astype(str).nunique() > 1]
    for along in sorted(varied, key=lambda k: FIRST.index(k) if k in FIRST else len(FIRST)):
        rest = [k for k in keys if k != along]
        groups = best.groupby(rest, dropna=False, sort=False) if rest else [((), best)]
        for _, group in groups:
            cells = {r[along]: r for _, r in group.iterrows()}
            order = sorted(cells) if along == "top_k" else ordered(list(cells), ORDER.get(along, ()))
            for x, y in itertools.combinations(order, 2):
                rows.append(_row(along, cells[x], cells[y], [k for k in rest if best[k].astype(str).nunique() > 1]))
    frame = pd.DataFrame(rows, columns=["along", "a", "b", "cell", "n_test", "acc_a", "acc_b", "diff", "ci_low",
                                        "ci_high", "p_mcnemar", "how"])
    frame["p_holm"] = holm(frame["p_mcnemar"]) if len(frame) else pd.Series(dtype=float)
    frame["sentence"] = [_sentence(r) for r in frame.itertuples()]
    return frame


def _row(along: str, a: pd.Series, b: pd.Series, rest: list[str]) -> dict:
    """The comparison of cells a and b; `rest`, the other keys that vary, name the matched cell."""
    cell = ", ".join(value_label(k, a[k]) for k in rest)
    row = {"along": along, "a": value_label(along, a[along]), "b": value_label(along, b[along]), "cell": cell}
    answers = paired_answers(a, b)
    if isinstance(answers, str):
        return {**row, "n_test": 0, "how": answers, **dict.fromkeys(("acc_a", "acc_b", "diff", "ci_low", "ci_high",
                                                                     "p_mcnemar"), math.nan)}
    right_a, right_b, how = answers
    low, high = paired_bootstrap(right_a, right_b)
    return {**row, "n_test": len(right_a), "acc_a": 100 * right_a.mean(), "acc_b": 100 * right_b.mean(),
            "diff": 100 * (right_a.mean() - right_b.mean()), "ci_low": 100 * low, "ci_high": 100 * high,
            "p_mcnemar": mcnemar_exact(right_a, right_b), "how": how}


def _p(value: float) -> str:
    return "< .001" if value < 0.001 else f"= {value:.3f}".replace("0.", ".", 1)


def _sentence(r) -> str:
    first = r.a if r.along == "model" else r.a[:1].upper() + r.a[1:]  # a backbone keeps its own spelling
    head = f"{first} against {r.b}" + (f", {r.cell}" if r.cell else "")
    if math.isnan(r.p_mcnemar):
        return f"{head}: no paired test, {r.how}."
    via = "" if r.how == "same test images" else f", through {r.how}"
    return (f"{head}: {fmt_num(r.diff, 1, signed=True)} points [{fmt_num(r.ci_low, 1, signed=True)}, "
            f"{fmt_num(r.ci_high, 1, signed=True)}], p {_p(r.p_mcnemar)} (Holm {_p(r.p_holm)}), "
            f"{r.n_test} test images{via}.")


CAPTION = ("Every pair of values of each varied scientific hyperparameter, inside matched cells (all other "
           "scientific values equal; each cell's best trial by the validation metric). a − b: difference in test "
           f"accuracy on the shared test images, with a 95% paired bootstrap interval ({RESAMPLES} resamples); "
           "p: McNemar's exact test; Holm: p adjusted by Holm's step-down method across all of these comparisons. "
           "Where fewer classes were kept, the model with more classes answers the smaller test through its "
           "logits restricted to that test's classes.")


def findings_table(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                   mode: str = "min") -> Table:
    frame = findings_frame(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    display = pd.DataFrame({
        "a against b": [f"{a} against {b}" for a, b in zip(frame["a"], frame["b"])], "in": frame["cell"],
        "a − b (pp) [95% CI]": [f"{fmt_num(d, 1, signed=True)} [{fmt_num(lo, 1, signed=True)}, "
                                f"{fmt_num(hi, 1, signed=True)}]" if d == d else "" for d, lo, hi in
                                zip(frame["diff"], frame["ci_low"], frame["ci_high"])],
        "McNemar p": [f"{p:.3g}" if p == p else "" for p in frame["p_mcnemar"]],
        "Holm p": [f"{p:.3g}" if p == p else "" for p in frame["p_holm"]],
        "n test": frame["n_test"].astype(str), "how": frame["how"]})
    return Table("findings", "Findings: every scientific contrast, paired on shared test images", frame, display,
                 CAPTION)
