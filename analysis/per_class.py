"""Which classes does the best model of each cell get right, and which does it confuse?

    >>> predictions, classes = read_predictions(trial_dir)
    >>> per_class_accuracy(predictions, classes)       # label, n_train, n_test, correct, accuracy
    >>> confused_pairs(predictions, top=15)            # true -> predicted, most frequent first

Art collections are long-tailed: a few materials or artists have thousands of images, most have a
handful. `long_tail` draws each class's test accuracy against its number of training images, a
figure per task; `confusions` lists the most confused pairs (a matrix of hundreds of artists is
unreadable), and `confusion_matrix` draws the matrix where a task has few classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.figures import _legend_below
from analysis.predictions import best_trials, cell_keys, cell_name, read_predictions
from analysis.tables import Table, fmt_num

MATRIX_MAX_CLASSES = 20  # beyond this a confusion matrix's labels no longer fit: a table of pairs instead


def per_class_accuracy(predictions: pd.DataFrame, classes: pd.DataFrame) -> pd.DataFrame:
    """One row per class: label, n_train, n_test, correct, accuracy (a fraction; NaN without test images)."""
    hits = predictions.assign(correct=predictions["pred"] == predictions["true"]).groupby("true")["correct"]
    out = classes[["class", "label", "n_train"]].copy()
    out["n_test"] = out["class"].map(hits.size()).fillna(0).astype(int)
    out["correct"] = out["class"].map(hits.sum()).fillna(0).astype(int)
    out["accuracy"] = out["correct"] / out["n_test"].replace(0, np.nan)
    return out


def confused_pairs(predictions: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """The most frequent (true, predicted) pairs among the mistakes, with each as a share of the true class."""
    wrong = predictions[predictions["pred"] != predictions["true"]]
    totals = predictions.groupby("true_label").size()
    pairs = wrong.groupby(["true_label", "pred_label"], dropna=False).size().rename("images").reset_index()
    # A trial without mistakes leaves `pairs` empty, and pandas' string dtype then types the mapped totals as
    # strings: the totals are counts, so say so.
    pairs["share_of_true"] = pairs["images"] / pairs["true_label"].map(totals).astype("float64")
    return pairs.sort_values(["images", "true_label"], ascending=[False, True], kind="stable").head(top)


def _best(trials, experiment, **selection) -> tuple[pd.DataFrame, list[str]]:
    return best_trials(trials, experiment, **selection), cell_keys(trials, selection.get("scientific", ()))


def long_tail(trials: pd.DataFrame, experiment, task: str, *, scientific=(), nuisance=(), metric: str = "val_loss",
              mode: str = "min") -> Figure:
    """Per-class test accuracy against the class's training images (log x), one series per cell of `task`."""
    best, keys = _best(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    best = best[best["task"] == task] if "task" in best else best
    shown = [k for k in keys if k != "task"]
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for _, row in best.iterrows():
        predictions, classes = read_predictions(row["trial_dir"])
        acc = per_class_accuracy(predictions, classes).dropna(subset=["accuracy"])
        ax.scatter(acc["n_train"], 100 * acc["accuracy"], s=18, alpha=0.7, label=cell_name(row, shown))
    ax.set_xscale("log")
    ax.set_xlabel("training images of the class (log)")
    ax.set_ylabel("test accuracy of the class (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(f"task {task}: accuracy per class against its training-set size")
    _legend_below(fig, ax.get_legend_handles_labels()[0])  # below: inside, a few cells' names hide the points
    return fig


def confusions(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
               mode: str = "min", top: int = 10) -> Table:
    """The most confused class pairs of each cell's best trial."""
    best, keys = _best(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    parts = []
    for _, row in best.iterrows():
        pairs = confused_pairs(read_predictions(row["trial_dir"])[0], top)
        parts.append(pairs.assign(**{k: row[k] for k in keys})[[*keys, *pairs.columns]])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*keys, "true_label", "pred_label",
                                                                                     "images", "share_of_true"])
    display = frame.astype(str)
    if len(frame):
        display["share_of_true"] = [f"{fmt_num(100 * v, 1)}%" for v in frame["share_of_true"]]
    display = display.rename(columns={"true_label": "true class", "pred_label": "predicted as",
                                      "share_of_true": "share of the true class's test images"})
    return Table("confusions", "Most confused classes", frame, display,
                 f"For each cell's best trial, its {top} most frequent mistakes on the test set: the true class, "
                 "the class predicted instead, how many test images, and their share of that class's test images.")


def confusion_matrix(trials: pd.DataFrame, experiment, task: str, *, scientific=(), nuisance=(),
                     metric: str = "val_loss", mode: str = "min") -> Figure:
    """Row-normalised confusion matrices of the best trial of each cell of `task` (few classes only)."""
    best, keys = _best(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    best = best[best["task"] == task] if "task" in best else best
    n = max(len(best), 1)
    fig = Figure(figsize=(4.5 * min(n, 3), 4.2 * ((n + 2) // 3)), layout="constrained")
    axes = fig.subplots((n + 2) // 3, min(n, 3), squeeze=False).ravel()
    for ax, (_, row) in zip(axes, best.iterrows()):
        predictions, classes = read_predictions(row["trial_dir"])
        labels = classes["label"].tolist()
        counts = pd.crosstab(predictions["true_label"], predictions["pred_label"]).reindex(
            index=labels, columns=labels, fill_value=0)
        share = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0).fillna(0)
        ax.imshow(share.to_numpy(), vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(cell_name(row, [k for k in keys if k != "task"]), fontsize=9)
    for ax in axes[len(best):]:
        ax.axis("off")
    return fig
