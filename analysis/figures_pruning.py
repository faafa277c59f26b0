"""The label-count study's decomposition drawn: a row per series, accuracy (left) and kappa (right) against
the classes kept (log x), for the rung's own model, the full rung's model restricted to the rung's classes,
and chance (the training split's majority class, and 1/K)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.decomposition import decomposition_frame
from analysis.figures import _empty, _legend_below, _panels

STYLE = {"own": ("C0", "o", "-", "own model, retrained on the kept classes"),
         "restricted": ("C1", "s", "--", "full rung's model, logits restricted to the kept classes"),
         "majority": ("0.4", "", ":", "chance: the training split's majority class"),
         "uniform": ("0.7", "", "-.", "chance: 1/K")}


def _errorbar(ax, frame: pd.DataFrame, column: str, factor: float = 1.0) -> None:
    colour, marker, line, label = STYLE[column]
    if column not in frame:  # restricted: the full rung saved no test logits
        return
    data = frame.dropna(subset=[column]).sort_values("classes")
    if data.empty:
        return
    low, high = f"{column}_low", f"{column}_high"
    if low in data:
        err = np.abs(np.vstack([data[column] - data[low], data[high] - data[column]])).astype(float) * factor
        err = np.nan_to_num(err)
    else:
        err = None
    ax.errorbar(data["classes"], data[column] * factor, yerr=err, color=colour, marker=marker or None,
                linestyle=line, capsize=3, label=label)


def pruning_decomposition(trials: pd.DataFrame, experiment, *, scientific=(), nuisance=(), metric: str = "val_loss",
                          mode: str = "min") -> Figure:
    frame = decomposition_frame(trials, experiment, scientific=scientific, nuisance=nuisance, metric=metric,
                                mode=mode)
    if frame.empty:
        return _empty("no finished trial saved its test predictions")
    series = list(dict.fromkeys(frame["series"]))
    fig, axes = _panels(len(series), 2, width=5.0, height=3.4)
    for (acc_ax, kappa_ax), name in zip(axes, series):
        part = frame[frame["series"] == name]
        for column in ("own", "restricted", "majority", "uniform"):
            _errorbar(acc_ax, part, column)
        kappa = part.rename(columns=lambda c: c.replace("_kappa", "") if "_kappa" in c else f"_{c}")
        kappa["classes"] = part["classes"]
        for column in ("own", "restricted"):
            _errorbar(kappa_ax, kappa, column)
        kappa_ax.axhline(0, color="0.7", linestyle="-.", linewidth=1)
        ticks = sorted(part["classes"].unique())
        for ax, ylabel in ((acc_ax, "test accuracy (%)"), (kappa_ax, "Cohen's kappa")):
            ax.set_xscale("log")
            ax.set_xticks(ticks, [str(t) for t in ticks])  # the rungs themselves, not powers of ten
            ax.minorticks_off()
            ax.set_xlabel("classes kept (log)")
            ax.set_ylabel(ylabel)
            ax.set_title(name or "all trials", fontsize=9)
        acc_ax.set_ylim(-3, 103)
    _legend_below(fig, [Line2D([], [], color=c, marker=m or None, linestyle=s, label=label)
                        for c, m, s, label in STYLE.values()])
    return fig
