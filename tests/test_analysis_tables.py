"""analysis.tables: every number of the exported tables recomputed by hand from the result lines.

Spread is the sample standard deviation (ddof=1, `statistics.stdev`); accuracies are exported in %.
"""

import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from analysis import load_experiment
import fake_experiment as fake
from closed_form import wilson_closed_form
from analysis.export import save_table
from analysis.tables import dataset_table, isolation_table, paper_table

PUBLISHED = Path(__file__).resolve().parents[1] / "analysis" / "published"


def lines(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "result.json").read_text().splitlines() if x.strip()]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text: str) -> float:
    return float(text) if text not in ("", None) else math.nan


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    exp_dir = fake.paper_grid(tmp_path_factory.mktemp("exp") / "grid_paper")
    exp = load_experiment(exp_dir)
    table = paper_table(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                        metric=exp.metric, mode=exp.mode)
    out = tmp_path_factory.mktemp("tables")
    save_table(table, out)
    return exp_dir, out


def test_table2_export_equals_hand_computation(paper):
    exp_dir, out = paper
    cells = defaultdict(list)
    for folder in exp_dir.iterdir():
        if not (folder / "params.json").exists():
            continue
        params = json.loads((folder / "params.json").read_text())
        final = [r for r in lines(folder) if "test_acc" in r]
        if final:  # errored trials have none and must not count
            cells[(params["task"], params["model"], params["mode"])].append(final[-1]["test_acc"] * 100)
    published = {(r["challenge"], r["model"]): r for r in read_csv(PUBLISHED / "sabatelli2018_rijksmuseum.csv")}

    rows = read_csv(out / "paper_table.csv")
    assert [(r["task"], r["model"]) for r in rows] == [("material", "resnet50"), ("material", "vgg19"),
                                                       ("artist", "resnet50"), ("artist", "vgg19")]
    checked = 0
    for row in rows:
        for mode in ("off_the_shelf", "fine_tune"):
            values = cells[(row["task"], row["model"], mode)]
            mean = statistics.mean(values)
            std = statistics.stdev(values) if len(values) > 1 else math.nan
            paper_value = float(published[(row["task"], row["model"])][mode])
            assert same(num(row[f"{mode}_mean"]), mean)
            assert same(num(row[f"{mode}_std"]), std)
            assert int(row[f"{mode}_n"]) == len(values)
            assert same(num(row[f"{mode}_published"]), paper_value)
            assert same(num(row[f"{mode}_diff"]), mean - paper_value)  # rijksmuseum, unpruned: comparable
            checked += 1
    assert checked == 8
    assert {int(r["fine_tune_n"]) for r in rows} | {int(r["off_the_shelf_n"]) for r in rows} == {1, 2, 3}


def test_table2_markdown_and_latex(paper):
    _, out = paper
    rows = read_csv(out / "paper_table.csv")
    md = (out / "paper_table.md").read_text()
    first = rows[0]
    mean, std = float(first["off_the_shelf_mean"]), float(first["off_the_shelf_std"])
    n_test = int(float(first["off_the_shelf_n_test"]))
    # the 95% Wilson interval of the mean accuracy on n_test images, written out
    low, high = wilson_closed_form(mean / 100, n_test)
    assert f"{mean:.2f} ± {std:.2f} [{low * 100:.1f}, {high * 100:.1f}] (n=3)" in md
    assert "95% Wilson interval" in md and "weights_used" in md
    assert "(n=1)" in md and "ddof=1" in md and "%" in md
    tex = (out / "paper_table.tex").read_text()
    assert "\\begin{tabular}" in tex and "$\\pm$" in tex and "\\caption{Test accuracy (\\%)" in tex


def test_wilson_interval_against_the_closed_form():
    from analysis.intervals import wilson

    assert wilson(0.75, 40) == pytest.approx((0.59806, 0.85813), abs=1e-5)  # 30 of 40
    assert wilson(0.8, 50) == pytest.approx((0.66963, 0.88756), abs=1e-5)  # 40 of 50
    for accuracy, n in ((0.75, 40), (0.8, 50), (0.1, 7), (1.0, 12)):
        assert wilson(accuracy, n) == pytest.approx(wilson_closed_form(accuracy, n), abs=1e-9)
    assert all(math.isnan(x) for x in wilson(0.5, 0)) and all(math.isnan(x) for x in wilson(math.nan, 40))


def test_diff_left_empty_off_the_paper_setting(tmp_path):
    exp = load_experiment(fake.lr_sweep(tmp_path / "lr"))  # the demo collection
    table = paper_table(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                        metric=exp.metric, mode=exp.mode)
    # a demo row never stands beside the paper's number
    assert table.frame["fine_tune_published"].isna().all() and table.frame["fine_tune_diff"].isna().all()
    assert "collection demo" in table.caption and "no published number" in table.caption
    assert not [c for c in table.display.columns if c.startswith(("paper ", "Δ "))]  # no column of dashes


def test_isolation_picks_best_nuisance_setting_by_hand(tmp_path):
    exp_dir = fake.lr_sweep(tmp_path / "lr")
    by_setting = defaultdict(list)
    tests = defaultdict(list)
    for folder in exp_dir.iterdir():
        if not (folder / "params.json").exists():
            continue
        p = json.loads((folder / "params.json").read_text())
        epochs = [r for r in lines(folder) if "epoch" in r]
        best = max(epochs, key=lambda r: r["val_acc"])  # study.json: metric val_acc, mode max; monitor val_acc
        key = (p["mode"], p["lr"], p["weight_decay"])
        by_setting[key].append(best["val_acc"])
        tests[key].append(next(r for r in lines(folder) if "test_acc" in r)["test_acc"] * 100)
    exp = load_experiment(exp_dir)
    table = isolation_table(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                            metric=exp.metric, mode=exp.mode)
    frame = table.frame.set_index("mode")
    for mode in ("off_the_shelf", "fine_tune"):
        options = {k: statistics.mean(v) for k, v in by_setting.items() if k[0] == mode}
        best = max(options, key=options.get)
        assert (frame.loc[mode, "lr"], frame.loc[mode, "weight_decay"]) == best[1:]
        assert frame.loc[mode, "settings_tried"] == 6
        assert frame.loc[mode, "val_acc_selection"] == pytest.approx(options[best] * 100)
        assert frame.loc[mode, "test_acc_mean"] == pytest.approx(statistics.mean(tests[best]))
        assert frame.loc[mode, "test_acc_n"] == 2
    assert frame.loc["off_the_shelf", "lr"] == 1e-2 and frame.loc["fine_tune", "lr"] == 1e-3


def test_dataset_table_from_study_json(paper):
    exp_dir, _ = paper
    exp = load_experiment(exp_dir)
    table = dataset_table(exp.study, exp.trials)
    rows = table.frame.set_index("task")
    summary = json.loads((exp_dir / "study.json").read_text())["collection"]["tasks"]
    for task, info in summary.items():
        for key in ("images", "classes", "train", "val", "test"):
            assert rows.loc[task, key] == info[key]
        assert rows.loc[task, "dropped_no_label"] == info["dropped"]["no_label"]
    assert rows.loc["artist", "paper_classes"] == 1196 and rows.loc["material", "paper_images"] == 110668
    assert list(table.frame["task"]) == ["material", "artist"]
