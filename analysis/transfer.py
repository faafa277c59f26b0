"""Does a better ImageNet model transfer better? ImageNet top-1 against accuracy on the collection.

Kornblith, Shlens & Le (2019), "Do Better ImageNet Models Transfer Better?", found a strong
correlation for fine-tuning and a weaker one off the shelf. Each trial records its backbone's
ImageNet top-1 from the weights' own metadata (`imagenet_top1` in its final metrics, see
study/trial/imagenet.py); this draws it against the test accuracy of each cell (mean over the seeds
of its best nuisance setting), a panel per task, a colour per mode, with Pearson's and Spearman's r.
Drawn for experiments with three backbones or more with ImageNet weights.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from analysis.roles import optimise_away
from analysis.tables import MODE_LABEL, TASK_ORDER, Table, fmt_num, ordered
from study.config import MODES

MIN_BACKBONES = 3


def transfer_frame(trials: pd.DataFrame, *, scientific=(), nuisance=(), metric: str = "val_loss",
                   mode: str = "min") -> pd.DataFrame:
    """One row per cell with a known ImageNet top-1: task, mode, model, imagenet_top1 (%), test_acc (%, mean)."""
    if "imagenet_top1" not in trials:
        return pd.DataFrame(columns=["task", "mode", "model", "imagenet_top1", "test_acc"])
    keys = [k for k in ("task", "mode", "model") if k in trials.columns]
    chosen = optimise_away(trials, [*keys, *[k for k in scientific if k not in keys]], nuisance, metric, mode)
    done = chosen[(chosen["status"] == "finished") & chosen["imagenet_top1"].notna()]
    out = done.groupby(keys, dropna=False).agg(imagenet_top1=("imagenet_top1", "first"),
                                               test_acc=("test_acc", "mean")).reset_index()
    out["test_acc"] *= 100
    return out


def enough_backbones(trials: pd.DataFrame) -> bool:
    return "imagenet_top1" in trials and trials.loc[trials["imagenet_top1"].notna(), "model"].nunique() >= MIN_BACKBONES


def correlations(frame: pd.DataFrame) -> Table:
    """Pearson's and Spearman's r of ImageNet top-1 against transfer accuracy, per task and mode."""
    rows = []
    for (task, mode_), group in frame.groupby(["task", "mode"], sort=False):
        enough = group["model"].nunique() >= MIN_BACKBONES and group["imagenet_top1"].nunique() > 1
        pearson = stats.pearsonr(group["imagenet_top1"], group["test_acc"]) if enough else None
        spearman = stats.spearmanr(group["imagenet_top1"], group["test_acc"]) if enough else None
        rows.append({"task": task, "mode": mode_, "backbones": group["model"].nunique(),
                     "pearson_r": pearson.statistic if pearson else math.nan,
                     "pearson_p": pearson.pvalue if pearson else math.nan,
                     "spearman_r": spearman.statistic if spearman else math.nan})
    table = pd.DataFrame(rows, columns=["task", "mode", "backbones", "pearson_r", "pearson_p", "spearman_r"])
    display = table.astype(str)
    for col in ("pearson_r", "spearman_r"):
        display[col] = [fmt_num(v) for v in table[col]]
    display["pearson_p"] = [f"{p:.3g}" if p == p else "—" for p in table["pearson_p"]]
    return Table("imagenet_transfer", "ImageNet accuracy against transfer accuracy", table, display,
                 "Correlation across backbones of ImageNet-1k top-1 (torchvision's weights metadata, or the "
                 "published figure for the efficientnet_lite weights) and test accuracy on this collection (mean "
                 "over seeds of the best nuisance setting). " + _how_little(table))


def _how_little(table: pd.DataFrame) -> str:
    """What so few backbones can show: the |r| a two-sided test at 5% needs with the fewest of them."""
    counts = table.loc[table["backbones"] >= MIN_BACKBONES, "backbones"]
    if counts.empty:
        return ""
    n = int(counts.min())
    # t = r sqrt(n - 2) / sqrt(1 - r^2) has n - 2 degrees of freedom, so |r| > t / sqrt(t^2 + n - 2)
    t = stats.t.ppf(0.975, n - 2)
    return (f"With {n} backbones, only |r| > {t / math.sqrt(t * t + n - 2):.3f} would be significant at 5%, and "
            "each accuracy carries its own interval on this test split (Table 2): read the correlation as a "
            "picture of a few points, not as evidence.")


def correlation_table(trials: pd.DataFrame, *, scientific=(), nuisance=(), metric: str = "val_loss",
                      mode: str = "min") -> Table:
    return correlations(transfer_frame(trials, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode))


def imagenet_vs_transfer(trials: pd.DataFrame, *, scientific=(), nuisance=(), metric: str = "val_loss",
                         mode: str = "min") -> Figure:
    """Test accuracy against ImageNet top-1, a panel per task, a colour per mode, r in the legend."""
    frame = transfer_frame(trials, scientific=scientific, nuisance=nuisance, metric=metric, mode=mode)
    r = correlations(frame).frame.set_index(["task", "mode"]) if len(frame) else None
    tasks = ordered(frame["task"].unique().tolist(), TASK_ORDER) if len(frame) else [""]
    fig = Figure(figsize=(5.5 * len(tasks), 4.5), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks):
        for i, mode_ in enumerate(ordered(frame.loc[frame["task"] == task, "mode"].unique().tolist(), MODES)):
            group = frame[(frame["task"] == task) & (frame["mode"] == mode_)]
            rho = r.loc[(task, mode_), "pearson_r"] if r is not None else math.nan
            ax.scatter(group["imagenet_top1"], group["test_acc"], color=f"C{i}",
                       label=f"{MODE_LABEL.get(mode_, mode_)} (Pearson r = {fmt_num(rho)})")
            for _, row in group.iterrows():
                ax.annotate(str(row["model"]), (row["imagenet_top1"], row["test_acc"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("ImageNet-1k top-1 (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"task {task}" if task else "no backbone with a known ImageNet accuracy")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig
