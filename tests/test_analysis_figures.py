"""analysis.figures: each figure holds the expected series (lines, labels, data), read off the returned Figure."""

import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from analysis import figures, load_experiment
import fake_experiment as fake


def lines(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "result.json").read_text().splitlines() if x.strip()]


def by_trial_id(exp_dir: Path) -> dict:
    out = {}
    for folder in exp_dir.iterdir():
        if (folder / "params.json").exists():
            rows = lines(folder)
            if rows:
                out[rows[0]["trial_id"]] = (json.loads((folder / "params.json").read_text()), rows)
    return out


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    root = tmp_path_factory.mktemp("exps")
    return {name: getattr(fake, name)(root / name)
            for name in ("paper_grid", "labels_study", "lr_sweep", "partial_run")}


def test_learning_curves_series(experiments):
    exp_dir = experiments["paper_grid"]
    exp = load_experiment(exp_dir)
    fig = figures.learning_curves(exp.history)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["task: material", "task: artist"]
    trials = by_trial_id(exp_dir)
    colours = defaultdict(set)
    for ax, task in zip(axes, ("material", "artist")):
        drawn = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
        expected = {tid for tid, (params, _) in trials.items() if params["task"] == task}
        assert set(drawn) == expected
        for tid, line in drawn.items():
            params, rows = trials[tid]
            epochs = [r for r in rows if "epoch" in r]
            assert list(line.get_xdata()) == [r["epoch"] for r in epochs]
            assert np.allclose(line.get_ydata(), [100 * r["val_acc"] for r in epochs])
            assert line.get_linestyle() == {"fine_tune": "-", "off_the_shelf": "--"}[params["mode"]]
            finished = any("test_acc" in r for r in rows)
            assert line.get_marker() == ("o" if finished else "X")  # the errored trial ends in an X
            colours[params["model"]].add(line.get_color())
        labels = set(ax.get_legend_handles_labels()[1])
        assert {"resnet50, fine-tune", "resnet50, off-the-shelf", "vgg19, fine-tune", "vgg19, off-the-shelf"} <= labels
    assert all(len(c) == 1 for c in colours.values()) and colours["resnet50"] != colours["vgg19"]


def test_learning_curves_show_where_trials_end(experiments):
    exp = load_experiment(experiments["partial_run"])
    fig = figures.learning_curves(exp.history)
    status = dict(zip(exp.trials["trial_id"], exp.trials["status"]))
    markers = {line.get_gid(): line.get_marker() for line in fig.axes[0].get_lines() if line.get_gid()}
    assert {status[t] for t in markers} == {"finished", "stopped", "unfinished"}  # errored/pending: no epochs
    for tid, marker in markers.items():
        assert marker == {"finished": "o", "stopped": "X", "unfinished": ""}[status[tid]]
    stopped = next(line for line in fig.axes[0].get_lines() if status.get(line.get_gid()) == "stopped")
    assert list(stopped.get_xdata()) == [1, 2]


def test_accuracy_vs_classes_series_and_mensink(experiments):
    exp_dir = experiments["labels_study"]
    exp = load_experiment(exp_dir)
    fig = figures.accuracy_vs_classes(exp.trials, mensink=True)
    acc_ax, bacc_ax = fig.axes[:2]
    hand = defaultdict(list)
    for params, rows in by_trial_id(exp_dir).values():
        final = next(r for r in rows if "test_acc" in r)
        hand[(params["mode"], final["num_classes"])].append(final)
    for ax, metric in ((acc_ax, "test_acc"), (bacc_ax, "test_bacc")):
        assert ax.get_xscale() == "log"
        bars = {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}
        assert set(bars) == {"resnet50, fine-tune", "resnet50, off-the-shelf"}
        for mode, label in (("fine_tune", "resnet50, fine-tune"), ("off_the_shelf", "resnet50, off-the-shelf")):
            data_line = bars[label].lines[0]
            assert list(data_line.get_xdata()) == [25, 100, 180]
            means = [statistics.mean(100 * f[metric] for f in hand[(mode, k)]) for k in (25, 100, 180)]
            assert np.allclose(data_line.get_ydata(), means)
            assert bars[label].has_yerr
            assert data_line.get_linestyle() == {"fine_tune": "-", "off_the_shelf": "--"}[mode]
    reference = {line.get_gid(): line for line in bacc_ax.get_lines() if line.get_gid()}
    assert list(reference["mensink2014"].get_xdata()) == [374, 300, 250, 200, 150, 100, 50, 25]
    assert reference["mensink2014"].get_ydata()[-1] == 81.81
    assert list(reference["mensink2014_rest"].get_xdata()) == [375]
    assert "MCA" in reference["mensink2014"].get_label()
    assert not any(line.get_gid() == "mensink2014" for line in acc_ax.get_lines())  # MCA only beside MCA
    no_ref = figures.accuracy_vs_classes(exp.trials, mensink=False)
    assert not any(line.get_gid() == "mensink2014" for ax in no_ref.axes for line in ax.get_lines())


def test_slice_plots_flag_best_at_edge(experiments):
    exp = load_experiment(experiments["lr_sweep"])
    fig = figures.slice_plots(exp.trials, ["lr", "weight_decay"], metric="val_acc", mode="max", by=["mode"])
    lr_ax, wd_ax = fig.axes[:2]
    points = {c.get_gid(): c for c in lr_ax.collections}
    assert len(points["lr|fine_tune"].get_offsets()) == 12 and len(points["lr|off_the_shelf"].get_offsets()) == 12
    xs = sorted({float(x) for x, _ in points["lr|off_the_shelf"].get_offsets()})
    assert np.allclose(xs, [1e-4, 1e-3, 1e-2]) and lr_ax.get_xscale() == "log"
    assert "edge|lr|off_the_shelf" in points and "edge|lr|fine_tune" not in points
    assert "widen" in lr_ax.get_title()
    assert not any(c.get_gid().startswith("edge") for c in wd_ax.collections)  # two values: no verdict
    flags = figures.edge_flags(exp.trials, ["lr"], "val_acc", "max", ["mode"]).set_index("group")
    assert flags.loc["off_the_shelf", "at_edge"] and flags.loc["off_the_shelf", "side"] == "high"
    assert not flags.loc["fine_tune", "at_edge"] and flags.loc["fine_tune", "best_value"] == 1e-3


def test_grid_heatmap_cells(experiments):
    exp_dir = experiments["paper_grid"]
    exp = load_experiment(exp_dir)
    fig = figures.grid_heatmap(exp.trials, ["task", "model"], "mode", metric="test_acc")
    ax = fig.axes[0]
    data = ax.images[0].get_array()
    hand = defaultdict(list)
    for params, rows in by_trial_id(exp_dir).values():
        final = [r for r in rows if "test_acc" in r]
        if final:
            hand[(f"{params['task']}, {params['model']}", params["mode"])].append(100 * final[0]["test_acc"])
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert cols == ["off_the_shelf", "fine_tune"]
    assert rows == ["material, resnet50", "material, vgg19", "artist, resnet50", "artist, vgg19"]
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            assert data[i, j] == pytest.approx(statistics.mean(hand[(row, col)]))


def test_figures_of_nothing_do_not_crash(tmp_path):
    exp = load_experiment(fake.write_study(tmp_path, {"space": "s"}).parent)
    for fig in (figures.learning_curves(exp.history), figures.accuracy_vs_classes(exp.trials),
                figures.slice_plots(exp.trials, ["lr"]), figures.grid_heatmap(exp.trials, ["model"], "mode")):
        assert fig.axes and fig.axes[0].texts  # a figure that says there is nothing yet


# ---------------------------------------------------------------- legible as a demo run draws them
MODELS = ("alexnet", "vgg19", "inception_v3", "xception", "resnet50")


@pytest.fixture(scope="module")
def demo_sized_sweep(tmp_path_factory):
    """lr_sweep as the demo runs it: 5 models x 2 modes = 10 cells, 3 epochs, most best lrs at the top edge."""
    import random

    rng = random.Random(0)
    trials = []
    for model in MODELS:
        for mode in ("off_the_shelf", "fine_tune"):
            for lr in (1e-4, 1e-3, 1e-2):
                for wd in (0.0, 1e-5, 1e-4):
                    config = {"collection": "demo", "task": "material", "model": model, "mode": mode, "lr": lr,
                              "weight_decay": wd, "seed": 0, "monitor": "val_acc"}
                    top = rng.uniform(0.3, 0.7) + 0.2 * (lr == 1e-2)
                    epochs = fake.epochs_from([1.2, 1.0, 0.9], [0.2, top - 0.1, top])
                    trials.append(fake.FakeTrial(config, epochs, fake._final(rng, config, epochs, 5, top - 0.05)))
    study = fake._study("lr_sweep", "Which lr?", ["model", "mode"], ["lr", "weight_decay"], ["batch_size"])
    return load_experiment(fake.write_experiment(tmp_path_factory.mktemp("sweep") / "lr_sweep", trials, study))


def _boxes(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return renderer


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_learning_curves_count_whole_epochs(demo_sized_sweep):
    fig = figures.learning_curves(demo_sized_sweep.history)
    _boxes(fig)
    ticks = fig.axes[0].get_xticks()
    shown = [t for t in ticks if fig.axes[0].get_xlim()[0] <= t <= fig.axes[0].get_xlim()[1]]
    assert shown and all(float(t).is_integer() for t in shown), shown


@pytest.mark.parametrize("which", ["slices", "learning_curves", "accuracy_vs_classes"])
def test_legends_cover_no_panel(demo_sized_sweep, experiments, which):
    """Ten model x mode series: the legend sits below the panels, never over a point or a line."""
    if which == "slices":
        fig = figures.slice_plots(demo_sized_sweep.trials, ["lr", "weight_decay"], metric="val_acc", mode="max",
                                  by=["model", "mode"])
    elif which == "learning_curves":
        fig = figures.learning_curves(demo_sized_sweep.history)
    else:
        fig = figures.accuracy_vs_classes(load_experiment(experiments["labels_study"]).trials, mensink=True)
    renderer = _boxes(fig)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    legend = fig.legends[0].get_window_extent(renderer)
    page = fig.bbox
    assert page.x0 <= legend.x0 and legend.x1 <= page.x1 + 1  # not cut off at the sides either
    assert not any(_overlap(legend, ax.get_window_extent(renderer)) for ax in fig.axes)


def test_the_edge_warning_fits_its_panel(demo_sized_sweep):
    fig = figures.slice_plots(demo_sized_sweep.trials, ["lr", "weight_decay"], metric="val_acc", mode="max",
                              by=["model", "mode"])
    renderer = _boxes(fig)
    lr_ax = fig.axes[0]
    assert "widen" in lr_ax.get_title() and sum(c.get_gid().startswith("edge|lr|") for c in lr_ax.collections) >= 5
    title = lr_ax.title.get_window_extent(renderer)
    panel = lr_ax.get_window_extent(renderer)
    assert panel.x0 - 5 <= title.x0 and title.x1 <= panel.x1 + 5, (title, panel)  # not over the next panel


def test_heatmap_column_labels_keep_apart(demo_sized_sweep):
    fig = figures.grid_heatmap(demo_sized_sweep.trials, ["model", "lr", "weight_decay"], "mode")
    renderer = _boxes(fig)
    left, right = sorted((t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels() if t.get_text()),
                         key=lambda box: box.x0)
    assert right.x0 - left.x1 >= 0.1 * fig.dpi  # a visible gap (a tenth of an inch) between "off_the_shelf" and "fine_tune"
