"""The report's figures, each a pure function of the tidy frames returning a matplotlib Figure.

    >>> fig = learning_curves(exp.history)            # val accuracy against epoch, one panel per task
    >>> fig = accuracy_vs_classes(exp.trials, mensink=True)
    >>> fig.savefig("curves.png")

Figures are built with `matplotlib.figure.Figure` (no pyplot): nothing global, no backend needed, safe in
a loop and in Jupyter. Accuracies are drawn in %. Each trial's line carries its trial id as gid, and each
model x mode its label, so what a figure shows can be checked from the returned object.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter

from analysis import reference
from analysis.intervals import wilson
from analysis.labels import weights_label
from analysis.roles import direction
from analysis.tables import TASK_ORDER, _sort, ordered, scale
from study.config import HEAD_FITS, MODES, PAPER_MODELS
from study.formatting import format_value

LINESTYLE = {"fine_tune": "-", "off_the_shelf": "--"}  # the 2020 reproduction's convention
END_MARKER = {"finished": "o", "stopped": "X", "errored": "X"}  # unfinished trials carry on: no marker
METRIC_LABEL = {"val_acc": "validation accuracy (%)", "val_bacc": "validation MCA (%)", "val_loss": "validation loss",
                "train_acc": "train accuracy (%)", "train_loss": "train loss", "test_acc": "test accuracy (%)",
                "test_bacc": "test balanced accuracy = MCA (%)"}


def _colours(models) -> dict:
    palette = [f"C{i}" for i in range(10)]
    return {m: palette[i % 10] for i, m in enumerate(ordered(models, PAPER_MODELS))}


def series_label(model, mode, *extra) -> str:
    """How a model x mode line is named in legends: 'resnet50, fine-tune' (+ its weights, and its head fit
    as 'head: logistic', where they vary)."""
    named = [f"head: {v}" if v in HEAD_FITS else weights_label(v) if isinstance(v, str) else format_value(v)
             for v in extra]
    return ", ".join([str(model), str(mode).replace("_", "-"), *named])


def series_extra(frame: pd.DataFrame) -> list[str]:
    """What else tells a frame's lines apart besides model and mode: the weights each trial used (and the
    head fit) where they vary, so an ImageNet line is never drawn as its random-init twin's."""
    weights = "weights_used" if "weights_used" in frame else "weights"
    return [k for k in (weights, "head_fit") if k in frame and frame[k].astype(str).nunique() > 1]


def with_weights_used(history: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
    """The history with each trial's `weights_used` (a final metric, so not in the per-epoch rows)."""
    if trials is None or "weights_used" not in trials or "trial_id" not in trials or "weights_used" in history:
        return history
    return history.merge(trials[["trial_id", "weights_used"]], on="trial_id", how="left")


def _colour_key(model, extra: tuple) -> str:
    return ", ".join([str(model), *(format_value(v) for v in extra)])


def _panels(n: int, ncols: int, width: float = 5.0, height: float = 3.8):
    fig = Figure(figsize=(width * ncols, height * n), layout="constrained")
    axes = fig.subplots(n, ncols, squeeze=False)
    return fig, axes


def _legend_below(fig: Figure, handles: list) -> None:
    """One legend for the whole figure, under its panels: a legend inside a panel hides the points
    and lines it names once there are more than a few series (ten model x mode cells in a demo run).
    As many columns as the figure's width holds for its longest label (at "small" type a character is
    ~0.07 in, the marker and gaps ~0.6 in: "efficientnet_lite0, off-the-shelf, imagenet, head: logistic"
    needs ~4.5 in), so no entry runs off the figure's edge."""
    if handles:
        longest = max(len(str(h.get_label())) for h in handles)
        ncol = max(1, min(len(handles), int(fig.get_figwidth() // (0.07 * longest + 0.6))))
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)


def _empty(message: str) -> Figure:
    fig = Figure(figsize=(5, 2))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def learning_curves(history: pd.DataFrame, metric: str = "val_acc", trials: pd.DataFrame | None = None) -> Figure:
    """`metric` against epoch, a panel per task, a colour per model (and weights used, where they vary),
    solid fine-tune, dashed off-the-shelf.

    One line per trial. Its last epoch carries a marker: o = finished (early stopping or max_epochs),
    X = stopped by the scheduler or errored; a trial still running has none. `trials` supplies each
    trial's `weights_used`.
    """
    if history.empty or metric not in history:
        return _empty(f"no {metric} reported yet")
    history = with_weights_used(history, trials)
    extra_keys = series_extra(history)
    tasks = ordered(history["task"].tolist(), TASK_ORDER) if "task" in history else [None]
    models = history["model"].tolist() if "model" in history else ["?"] * len(history)
    colours = _colours([_colour_key(m, tuple(r)) for m, r in
                        zip(models, history[extra_keys].itertuples(index=False, name=None))])
    factor = scale(metric)
    fig, axes = _panels(1, len(tasks))
    for ax, task in zip(axes[0], tasks):
        part = history[history["task"] == task] if task is not None else history
        seen = set()
        for trial_id, trial in part.groupby("trial_id", sort=False):
            trial = trial.sort_values("epoch")
            first = trial.iloc[0]
            model, mode = first.get("model", "?"), first.get("mode", "?")
            extra = tuple(first.get(k) for k in extra_keys)
            label = series_label(model, mode, *extra)
            status = first.get("status", "unfinished")
            (line,) = ax.plot(trial["epoch"], trial[metric] * factor, color=colours.get(_colour_key(model, extra), "k"),
                              linestyle=LINESTYLE.get(mode, ":"), linewidth=1.4, alpha=0.85,
                              label=label if label not in seen else "_nolegend_",
                              marker=END_MARKER.get(status, ""), markevery=[len(trial) - 1], markersize=6)
            line.set_gid(str(trial_id))
            seen.add(label)
        ax.set_title(f"task: {task}" if task is not None else "all trials")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers: no 1.5
        ax.set_ylabel(METRIC_LABEL.get(metric, metric))
        ax.grid(alpha=0.3)
    named = {}
    for ax in axes[0]:  # every panel's series, once each, in one legend below them
        for handle, label in zip(*ax.get_legend_handles_labels()):
            named.setdefault(label, handle)
    _legend_below(fig, [named[label] for label in sorted(named)] + [
        Line2D([], [], color="grey", linestyle="", marker="o", label="finished"),
        Line2D([], [], color="grey", linestyle="", marker="X", label="stopped / errored")])
    fig.suptitle(f"{METRIC_LABEL.get(metric, metric)} against epoch\nsolid: fine-tune, dashed: off-the-shelf",
                 fontsize="medium")
    return fig


def _reference_mca(ax) -> None:
    ref = reference.mensink2014_artists_kept()
    main = ref[~ref["rest_class"]]
    ax.plot(main["artists_kept"], main["mca_top1"], color="black", linestyle=":", marker="s", markersize=4,
            label="Mensink & van Gemert 2014 (FV+SVM, MCA)", gid="mensink2014")
    rest = ref[ref["rest_class"]]
    ax.plot(rest["artists_kept"], rest["mca_top1"], color="black", linestyle="", marker="s", fillstyle="none",
            label="… with a 'rest' class", gid="mensink2014_rest")


def accuracy_vs_classes(trials: pd.DataFrame, mensink: bool = False) -> Figure:
    """Test accuracy and balanced accuracy against the number of classes kept (log x), error bars over seeds.

    A row of two panels per task; a line per model x mode (mean over finished seeds, bars = sample std,
    ddof=1). With `mensink`, the artist row's balanced-accuracy panel also shows Mensink & van Gemert
    (2014)'s artists-kept curve: their metric is mean class accuracy, i.e. balanced accuracy.
    """
    needed = {"num_classes", "test_acc", "status"}
    done = trials[(trials["status"] == "finished") & trials["num_classes"].notna()] if needed <= set(trials) \
        else trials.iloc[0:0]
    if done.empty:
        return _empty("no finished trial reports num_classes yet")
    tasks = ordered(done["task"].tolist(), TASK_ORDER) if "task" in done else [None]
    extra_keys = series_extra(done)
    keys = ["model", "mode", *extra_keys]
    colours = _colours([_colour_key(r[0], tuple(r[2:])) for r in done[keys].itertuples(index=False, name=None)])
    fig, axes = _panels(len(tasks), 2)
    for row, task in zip(axes, tasks):
        part = done[done["task"] == task] if task is not None else done
        for ax, metric in zip(row, ("test_acc", "test_bacc")):
            if metric not in part:
                continue
            for (model, mode, *extra), group in part.groupby(keys, sort=True):
                stats = (group.assign(v=pd.to_numeric(group[metric], errors="coerce") * 100,
                                      n=pd.to_numeric(group.get("n_test", math.nan), errors="coerce"))
                         .groupby("num_classes").agg(mean=("v", "mean"), std=("v", "std"), count=("v", "count"),
                                                     n_test=("n", "median")).reset_index()
                         .sort_values("num_classes"))
                stats = stats[stats["count"] > 0]
                if stats.empty:
                    continue
                colour = colours[_colour_key(model, tuple(extra))]
                bars = ax.errorbar(stats["num_classes"].astype(float), stats["mean"], yerr=stats["std"].fillna(0),
                                   color=colour, linestyle=LINESTYLE.get(mode, ":"), marker="o",
                                   markersize=4, capsize=3, label=series_label(model, mode, *extra))
                bars.lines[0].set_gid("|".join(map(str, [model, mode, *extra])))
                if metric == "test_acc":  # the 95% Wilson interval of each accuracy for its n_test, shaded
                    bounds = [wilson(m / 100, n) for m, n in zip(stats["mean"], stats["n_test"])]
                    ax.fill_between(stats["num_classes"].astype(float), [b[0] * 100 for b in bounds],
                                    [b[1] * 100 for b in bounds], color=colour, alpha=0.12, linewidth=0)
            if mensink and task == "artist" and metric == "test_bacc":
                _reference_mca(ax)
            ax.set_xscale("log")
            ticks = set(part["num_classes"].astype(int))
            if mensink and task == "artist" and metric == "test_bacc":  # the reference's ends, where they fit
                ticks |= {t for t in (25, 375) if all(max(t, u) / min(t, u) > 1.3 for u in ticks)}
            ax.set_xticks(sorted(ticks), [str(t) for t in sorted(ticks)])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("classes kept (log scale)")
            ax.set_ylabel(METRIC_LABEL[metric])
            ax.set_title(f"task: {task}" if task is not None else "")
            ax.grid(alpha=0.3, which="both")
    named = {}
    for ax in fig.axes:  # every series once (the reference curve too), below the panels
        for handle, label in zip(*ax.get_legend_handles_labels()):
            named.setdefault(label, handle)
    _legend_below(fig, list(named.values()))
    fig.suptitle("Test accuracy against the number of classes kept (mean ± std over seeds; "
                 "shaded: 95% Wilson interval for n_test)")
    return fig


OUTER = 0.1  # the outer tenth of a declared range, at either end


def _position(value: float, low: float, high: float, log: bool) -> float:
    """Where `value` lies in [low, high], 0 to 1, on the range's own scale."""
    if log:
        value, low, high = math.log(value), math.log(low), math.log(high)
    return (value - low) / (high - low) if high > low else 0.5


def edge_flags(trials: pd.DataFrame, params, metric: str, mode: str | None = None, by=(),
               bounds: dict | None = None) -> pd.DataFrame:
    """Where the best value of each numeric nuisance hyperparameter lies at the edge of its declared range.

    One row per parameter and `by` group: the best value (by `metric`, averaged over seeds), the declared
    range (`bounds[param]` = {"kind": "loguniform" | "uniform", "low", "high"}, as study.json records a
    searched key; a grid's range is its lowest and highest values), and `at_edge`: True when the best lies
    in the outer tenth of that range (on its log scale for a log distribution) and is strictly better than
    every value farther in (there must be one). A tie for best is never flagged. A grid needs three values
    (with two, any best is at an end), and a best of 0 at the low end (no weight decay) cannot be widened.
    """
    mode = mode or direction(metric)
    done = trials[trials["status"].isin(["finished", "stopped"])] if "status" in trials else trials
    by = [k for k in by if k in done]
    rows = []
    for param in params:
        if param not in done or metric not in done:
            continue
        part = done[[*by, param, metric]].copy()
        part[param] = pd.to_numeric(part[param], errors="coerce")
        part = part.dropna(subset=[param, metric])
        declared = (bounds or {}).get(param)
        groups = part.groupby(by, sort=True, dropna=False) if by else [((), part)]
        for key, group in groups:
            means = group.groupby(param)[metric].mean()
            if len(means) < 2:
                continue
            sign = 1 if mode == "max" else -1
            best = means.idxmax() if mode == "max" else means.idxmin()
            if declared:
                low, high, log = float(declared["low"]), float(declared["high"]), declared.get("kind") == "loguniform"
            else:
                low, high = float(means.index.min()), float(means.index.max())
                log = low > 0 and high / low >= 10
            where = _position(best, low, high, log)
            side = "low" if where <= OUTER else "high" if where >= 1 - OUTER else ""
            farther_in = means[[(_position(v, low, high, log) > where) if side == "low" else
                                (_position(v, low, high, log) < where) for v in means.index]] if side else means[[]]
            tie = (sign * (means.drop(best) - means[best]) >= 0).any()
            at_edge = (bool(side) and len(farther_in) > 0 and not tie
                       and (sign * (means[best] - farther_in) > 0).all()
                       and (bool(declared) or (len(means) >= 3 and not (side == "low" and low == 0))))
            key = key if isinstance(key, tuple) else (key,)
            rows.append({"param": param, "group": ", ".join(format_value(v) for v in key) or "all",
                         "best_value": best, "low": low, "high": high, "declared": bool(declared),
                         "n_values": len(means), "best_metric": means[best], "at_edge": at_edge, "side": side})
    return pd.DataFrame(rows, columns=["param", "group", "best_value", "low", "high", "declared", "n_values",
                                       "best_metric", "at_edge", "side"])


def slice_plots(trials: pd.DataFrame, params, metric: str = "val_acc", mode: str | None = None,
                by=(), bounds: dict | None = None) -> Figure:
    """One panel per hyperparameter: `metric` at each trial's best epoch against the value it used.

    Points are coloured per `by` combination (e.g. model x mode). A best value (mean over seeds) in the outer
    tenth of the declared range, clearly better than the values farther in (`edge_flags`), is ringed in red
    and named in the panel: the range should be widened.
    """
    mode = mode or direction(metric)
    done = trials[trials["status"].isin(["finished", "stopped"])] if "status" in trials else trials
    params = [p for p in params if p in done]
    if done.empty or not params or metric not in done:
        return _empty(f"no trial reports {metric} yet")
    by = [k for k in by if k in done]
    factor = scale(metric)
    flags = edge_flags(trials, params, metric, mode, by, bounds)
    fig, axes = _panels(1, len(params))
    for ax, param in zip(axes[0], params):
        values = done[param]
        numeric = pd.to_numeric(values, errors="coerce")
        is_numeric = numeric.notna().all() and not values.map(lambda v: isinstance(v, bool)).any()
        if is_numeric:
            xs = numeric
            positive = xs[xs > 0]
            if len(positive) == len(xs) and len(xs) and xs.max() / xs.min() >= 10:
                ax.set_xscale("log")
        else:
            cats = ordered(values.map(format_value).tolist(), ())
            xs = values.map(format_value).map({c: i for i, c in enumerate(cats)})
            ax.set_xticks(range(len(cats)), cats)
        groups = done.groupby(by, sort=True, dropna=False) if by else [((), done)]
        for i, (key, group) in enumerate(groups):
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(format_value(v) for v in key) or "trials"
            ax.scatter(xs[group.index], pd.to_numeric(group[metric], errors="coerce") * factor, color=f"C{i % 10}",
                       s=22, alpha=0.8, label=label, gid=f"{param}|{label}")
        edges = flags[(flags["param"] == param) & flags["at_edge"]] if is_numeric else flags.iloc[0:0]
        for flag in edges.itertuples():
            ax.scatter([flag.best_value], [flag.best_metric * factor], s=160, facecolors="none",
                       edgecolors="red", linewidths=1.8, gid=f"edge|{param}|{flag.group}", zorder=5)
        if len(edges):
            # Short enough for one panel: the red rings show which cells, the report's text names them.
            cells = len(flags[flags["param"] == param])
            ax.set_title(f"best {param} at the {'/'.join(sorted(set(edges['side'])))} edge in {len(edges)} of "
                         f"{cells} cells:\nwiden the range (red rings)", color="red", fontsize="small")
        ax.set_xlabel(param)
        ax.set_ylabel(f"{METRIC_LABEL.get(metric, metric)} at best epoch")
        ax.grid(alpha=0.3)
    _legend_below(fig, axes[0][0].get_legend_handles_labels()[0])
    fig.suptitle(f"{metric} against each nuisance hyperparameter ({'higher' if mode == 'max' else 'lower'} is better)")
    return fig


def grid_heatmap(trials: pd.DataFrame, rows, cols: str, metric: str = "test_acc") -> Figure:
    """The grid as a heat map: `metric` (mean over seeds) for each `rows` combination (y) and `cols` value (x).

    Heat map rather than parallel coordinates: the grids here are a few categorical keys, and a table of
    colours with the numbers written in reads at a glance; empty cells were not run or did not finish.
    """
    done = trials[trials["status"] == "finished"] if metric.startswith("test") else \
        trials[trials["status"].isin(["finished", "stopped"])]
    rows = [r for r in rows if r in done and r != cols]
    if done.empty or cols not in done or metric not in done:
        return _empty(f"no trial reports {metric} yet")
    factor = scale(metric)
    named = done[rows].map(lambda v: weights_label(v) if isinstance(v, str) else format_value(v))
    if "weights" in rows and "weights_used" in done:  # what a row's trials started from, not what they asked for
        named["weights"] = done["weights_used"].where(done["weights_used"].notna(), done["weights"]).map(weights_label)
    work = done.assign(_row=named.agg(", ".join, axis=1) if rows else "all",
                       _col=done[cols].map(format_value), _v=pd.to_numeric(done[metric], errors="coerce") * factor)
    table = work.pivot_table(index="_row", columns="_col", values="_v", aggfunc="mean", sort=False)
    preferred = {"mode": MODES, "model": PAPER_MODELS, "task": TASK_ORDER}
    table = table[ordered(list(table.columns), preferred.get(cols, ()))]
    order = _sort(work, rows).drop_duplicates("_row")["_row"] if rows else ["all"]
    table = table.reindex(list(order))
    # Room for the labels (~0.08 in a character at the default size): the row labels on the left, the
    # colour bar on the right, and columns wide enough for "off_the_shelf" not to run into "fine_tune".
    label_in = 0.08
    row_labels = max((len(str(r)) for r in table.index), default=3) * label_in + 0.8
    column = max(1.1, max((len(str(c)) for c in table.columns), default=3) * label_in + 0.3)
    fig = Figure(figsize=(row_labels + column * table.shape[1] + 1.4, 1.4 + 0.4 * table.shape[0]),
                 layout="constrained")
    ax = fig.add_subplot()
    data = table.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="viridis")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(r) for r in table.index])
    ax.set_xlabel(cols)
    ax.set_ylabel(", ".join(rows))
    finite = data[np.isfinite(data)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for (i, j), value in np.ndenumerate(data):
        if not math.isnan(value):
            ax.text(j, i, f"{value:.1f}" if factor == 100 else f"{value:.3g}", ha="center", va="center",
                    fontsize="small", color="white" if value < middle else "black")
    fig.colorbar(image, ax=ax, label=METRIC_LABEL.get(metric, metric))
    ax.set_title(f"mean {metric} over seeds")
    return fig
