"""Saved test predictions on the session's real smoke experiment (conftest `real_experiment`): what each
trial keeps, what analysis computes from it, the report's new sections, and `python -m study.predict`."""

import math

import nbformat
import pandas as pd
import pytest

from analysis import load_experiment
from closed_form import mcnemar_closed_form
from analysis.per_class import confused_pairs, per_class_accuracy
from analysis.predictions import best_trials, read_predictions
from analysis.report import write_report
from analysis.significance import compare, mode_comparisons, paper_table_marked
from study import predict


@pytest.fixture(scope="module")
def exp(real_experiment):
    return load_experiment(real_experiment)


def _saved(exp):
    return {row.trial: read_predictions(exp.path / row.trial) for row in exp.trials.itertuples()}


def test_every_trial_keeps_one_prediction_per_test_image(exp):
    for row in exp.trials.itertuples():
        predictions, classes = _saved(exp)[row.trial]
        assert len(predictions) == row.n_test and predictions["image_id"].is_unique
        assert len(classes) == row.num_classes and classes["n_test"].sum() == row.n_test
        assert classes["n_train"].sum() == row.n_train and classes["n_val"].sum() == row.n_val
        labels = classes.set_index("class")["label"]
        assert (predictions["true_label"] == predictions["true"].map(labels)).all()
        assert (predictions["pred_label"] == predictions["pred"].map(labels)).all()
        assert (predictions["top1_label"] == predictions["pred_label"]).all()
        probs = predictions[[f"top{i}_prob" for i in range(1, 6)]]
        assert (probs.diff(axis=1).iloc[:, 1:] <= 1e-7).all().all()  # ranked, most probable first
        assert (probs.sum(axis=1) <= 1 + 1e-5).all()
        # the trial's own test metrics, recomputed from its predictions
        assert (predictions["pred"] == predictions["true"]).mean() == pytest.approx(row.test_acc)
        top5 = predictions.apply(lambda r: r["true_label"] in {r[f"top{i}_label"] for i in range(1, 6)}, axis=1)
        assert top5.mean() == pytest.approx(row.test_top5)


def test_per_class_accuracies_average_to_the_test_accuracy(exp):
    for row in exp.trials.itertuples():
        predictions, classes = _saved(exp)[row.trial]
        per_class = per_class_accuracy(predictions, classes)
        weighted = (per_class["accuracy"] * per_class["n_test"]).sum() / per_class["n_test"].sum()
        assert weighted == pytest.approx(row.test_acc)
        assert per_class["accuracy"].mean() == pytest.approx(row.test_bacc)  # mean class accuracy = bacc
        pairs = confused_pairs(predictions, top=1000)
        assert pairs["images"].sum() == (predictions["pred"] != predictions["true"]).sum()


def test_mcnemar_on_identical_predictions_gives_p_one(exp):
    predictions, _ = next(iter(_saved(exp).values()))
    same = compare(predictions, predictions.sample(frac=1, random_state=0))
    assert same["p"] == 1.0 and same["diff"] == 0 and (same["ci_low"], same["ci_high"]) == (0, 0)


def test_modes_are_compared_on_the_same_images(exp):
    table = mode_comparisons(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                             metric=exp.metric, mode=exp.mode)
    assert len(table.frame) == 1
    row = table.frame.iloc[0]
    accs = exp.trials.set_index("mode")["test_acc"]
    assert (row["mode_a"], row["mode_b"]) == ("off_the_shelf", "fine_tune")
    assert row["acc_a"] == pytest.approx(100 * accs["off_the_shelf"]) and row["n_test"] == exp.trials["n_test"].iloc[0]
    assert row["diff"] == pytest.approx(row["acc_a"] - row["acc_b"])
    assert row["ci_low"] <= row["diff"] <= row["ci_high"]
    assert row["p_mcnemar"] == pytest.approx(mcnemar_closed_form(row["only_a"], row["only_b"]))
    marked = paper_table_marked(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                                metric=exp.metric, mode=exp.mode)
    assert marked.frame["mode_p_mcnemar"].iloc[0] == pytest.approx(row["p_mcnemar"])
    lead = 100 * (accs["fine_tune"] - accs["off_the_shelf"])
    mark = " *" if mcnemar_closed_form(row["only_a"], row["only_b"]) < 0.05 else " (n.s.)"
    assert marked.display["fine-tune − off-the-shelf (pp)"].iloc[0] == f"{lead:+.2f}{mark}"


def test_report_has_the_new_sections_and_its_notebook_opens_with_them(exp, tmp_path):
    out = write_report(exp.path, tmp_path / "report")
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"tables/mode_significance.csv", "tables/confusions.csv", "figures/long_tail_material.png",
            "figures/confusion_material.png"} <= names
    md = (out / "report.md").read_text()
    assert "fine-tune − off-the-shelf (pp)" in md and "McNemar" in md
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "report.ipynb was written unexecuted"
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    drawn = [c for c in code if c.source.startswith(("figures.", "per_class.long_tail", "per_class.confusion_matrix"))]
    assert len(drawn) >= 3 and all(any("image/png" in o.get("data", {}) for o in c.outputs) for c in drawn)


def _test_image(exp, demo_root, mode):
    best = best_trials(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                       metric=exp.metric, mode=exp.mode).set_index("mode")
    saved, _ = read_predictions(best.loc[mode, "trial_dir"])
    row = saved.iloc[0]
    return demo_root / "jpg2" / f"{row['image_id']}.jpg", row


@pytest.mark.parametrize("mode", ["off_the_shelf", "fine_tune"])
def test_predict_gives_the_trials_own_prediction_for_a_test_image(exp, demo_root, tmp_path, capsys, mode):
    image, saved = _test_image(exp, demo_root, mode)
    unreadable = tmp_path / "notes.jpg"
    unreadable.write_text("not an image")
    out = tmp_path / "labels.csv"
    argv = [str(exp.path), str(unreadable), str(image), "--cell", f"mode={mode}", "--out", str(out)]
    assert predict.main(argv) == 0
    err = capsys.readouterr().err
    assert f"cannot read {unreadable}" in err and "labelled 1 of 2 image(s)" in err
    got = pd.read_csv(out).iloc[0]
    assert got["image"] == str(image)
    k = sum(1 for c in got.index if c.endswith("_label"))
    assert k == min(5, exp.trials["num_classes"].iloc[0])
    for i in range(1, k + 1):
        assert got[f"top{i}_label"] == saved[f"top{i}_label"]
        assert got[f"top{i}_prob"] == pytest.approx(saved[f"top{i}_prob"], rel=1e-4, abs=1e-6)


def test_predict_defaults_to_the_best_trial_and_says_what_is_wrong(exp, demo_root, tmp_path, capsys):
    image, _ = _test_image(exp, demo_root, "fine_tune")
    assert predict.main([str(exp.path), str(image)]) == 0
    out = capsys.readouterr()
    printed = pd.read_csv(pd.io.common.StringIO(out.out))
    assert list(printed["image"]) == [str(image)] and math.isfinite(printed["top1_prob"].iloc[0])
    best = exp.trials.sort_values(exp.metric, ascending=exp.mode != "max", kind="stable").iloc[0]
    assert f"with trial {best['trial']}" in out.err
    for argv, message in [
        ([str(exp.path), str(image), "--cell", "model=resnet50"], "no finished trial matches --cell model=resnet50"),
        ([str(exp.path), str(image), "--cell", "colour=red"], "--cell names colour"),
        ([str(exp.path), str(image), "--cell", "mode"], "give key=value pairs"),
        ([str(exp.path), str(tmp_path / "missing.jpg")], "none of the 1 image(s) could be read"),
        ([str(tmp_path), str(image)], "is empty"),
    ]:
        assert predict.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.strip().splitlines()[-1].startswith("error: "), err


def test_confused_pairs_of_a_perfect_trial_is_empty_and_of_a_mistake_its_share(exp):
    """A trial without a mistake (a 2-class rung can score 100%) leaves no pair, and the report goes on."""
    predictions, _ = next(iter(_saved(exp).values()))
    perfect = predictions.assign(pred=predictions["true"], pred_label=predictions["true_label"])
    assert confused_pairs(perfect).empty
    one_wrong = perfect.copy()
    label = one_wrong["true_label"].iloc[0]
    one_wrong.loc[one_wrong.index[0], ["pred", "pred_label"]] = [-1, "other"]
    [row] = confused_pairs(one_wrong).to_dict("records")
    # one mistake among the images of that class, counted by hand
    assert row["images"] == 1 and row["share_of_true"] == pytest.approx(1 / (perfect["true_label"] == label).sum())
