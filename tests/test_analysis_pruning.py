"""The label-count study's report (a perfect trial, a class without test images, a one-class rung), its findings
and its decomposition, each statistic against a count made by hand."""

import numpy as np
import pytest

import fake_experiment as fake
from analysis.decomposition import _gains, decomposition_frame, kappa, sentences
from analysis.figures_pruning import pruning_decomposition
from analysis.findings import findings_frame
from analysis.load import load_experiment
from analysis.logits import Logits, read_logits, restrict
from analysis.per_class import confused_pairs
from analysis.predictions import read_predictions
from analysis.report import main
from analysis.significance import holm


@pytest.fixture(scope="module")
def pruning(tmp_path_factory):
    exp_dir = fake.pruning_study(tmp_path_factory.mktemp("exp") / "label_pruning")
    assert main([str(exp_dir)]) == 0
    return exp_dir


def test_a_trial_without_mistakes_has_no_confused_pairs(pruning):
    perfect = next(d for d in pruning.iterdir() if "top_k=1" in d.name and "weights=imagenet" in d.name)
    predictions, _ = read_predictions(perfect)
    assert (predictions["pred"] == predictions["true"]).all()
    pairs = confused_pairs(predictions)
    assert pairs.empty and pairs["share_of_true"].dtype == "float64"


def test_the_report_covers_the_one_class_rung_and_the_empty_class(pruning):
    report = (pruning / "report" / "report.md").read_text()
    assert "Most confused classes" in report
    confusions = (pruning / "report" / "tables" / "confusions.csv").read_text()
    # the random-init full rung answers A for all 12 images: its mistakes are B (3), C (3), D (2) as A
    assert "B,A,3," in confusions.replace('"', "")


# ---------------------------------------------------------------- each statistic against a hand count


def test_restricting_logits_takes_the_best_of_the_kept_columns_only():
    saved = Logits(np.array([[0.1, 0.9, 0.5], [2.0, -1.0, 3.0], [np.nan, 1.0, 0.0]], dtype=np.float32),
                   np.array(["x", "y", "z"]), np.array(["A", "B", "C"]))
    # x: B is best overall; among {A, C} C (0.5 > 0.1). y: C overall; among {A, B} A. z has no finite score.
    assert restrict(saved, ["x", "y"], ["A", "C"]).tolist() == ["C", "C"]
    assert restrict(saved, ["y", "x"], ["B", "A"]).tolist() == ["A", "B"]
    assert restrict(saved, ["z"], ["A", "B"]).tolist() == [None]
    assert restrict(saved, ["w"], ["A"]) is None and restrict(saved, ["x"], ["D"]) is None


def test_the_saved_logits_restricted_to_a_rung_score_as_counted_by_hand(pruning):
    full = next(d for d in pruning.iterdir() if "top_k=5" in d.name and "weights=imagenet" in d.name)
    saved = read_logits(full)
    assert saved.values.shape == (12, 5) and saved.values.dtype == np.float32
    rung = fake.pruning_outputs("imagenet", 3)
    answer = restrict(saved, rung.image_ids, rung.labels)
    # the hand count of fake.PRUNING_RANKINGS[("imagenet", 5)] on images 0-9 over A, B, C: 0 1 3 4 6 7 8 right
    assert (answer == np.array(rung.truth)).sum() == 7


def test_the_decomposition_parts_sum_to_the_gain_and_match_the_hand_count(pruning):
    exp = load_experiment(pruning)
    frame = decomposition_frame(exp.trials, exp.path, scientific=exp.roles.scientific, metric=exp.metric,
                                mode=exp.mode)
    row = frame[(frame["series"] == "ImageNet weights") & (frame["classes"] == 3)].iloc[0]
    # full rung 5/12, restricted 7/10, own 8/10 (counted from the fixture's rankings)
    assert row["full_acc"] == pytest.approx(100 * 5 / 12) and row["restricted"] == 70 and row["own"] == 80
    assert row["easier"] == pytest.approx(70 - 100 * 5 / 12) and row["retraining"] == pytest.approx(10)
    assert abs(row["easier"] + row["retraining"] - row["gain"]) < 1e-9
    for part in ("gain", "easier", "retraining"):
        assert row[f"{part}_low"] <= row[part] <= row[f"{part}_high"]
    majority = frame[(frame["series"] == "random initialisation") & (frame["classes"] == 3)].iloc[0]
    assert majority["majority"] == 40 and abs(majority["uniform"] - 100 / 3) < 1e-9  # A: 4 of the 10 images


def test_each_resampled_decomposition_also_sums():
    rng = np.random.default_rng(1)
    full_right = rng.integers(0, 2, 30).astype(bool)
    ids = np.array([f"i{i}" for i in range(30)])
    out = _gains(ids, full_right, ids[:12], rng.integers(0, 2, 12).astype(bool), rng.integers(0, 2, 12).astype(bool))
    assert abs(out["easier"] + out["retraining"] - out["gain"]) < 1e-9


def test_holm_on_a_hand_worked_example():
    # p sorted: .01 (x4 = .04), .02 (x3 = .06), .03 (x2 = .06), .5 (x1 = .5); NaN (no test) stays out of the family
    adjusted = holm([0.03, 0.5, np.nan, 0.01, 0.02])
    assert np.allclose(adjusted[[0, 1, 3, 4]], [0.06, 0.5, 0.04, 0.06]) and np.isnan(adjusted[2])
    assert holm([0.6, 0.9]).tolist() == [1.0, 1.0]  # capped at 1


def test_kappa_on_a_hand_made_confusion_matrix():
    # true A: 20 answered A, 5 B; true B: 10 answered A, 15 B. po = 35/50; pe = (30*25 + 20*25)/50^2 = .5
    truth = ["A"] * 25 + ["B"] * 25
    answer = ["A"] * 20 + ["B"] * 5 + ["A"] * 10 + ["B"] * 15
    po, pe = 35 / 50, (30 * 25 + 20 * 25) / 50 ** 2
    assert abs(kappa(truth, answer) - (po - pe) / (1 - pe)) < 1e-12
    assert np.isnan(kappa(["A", "A"], ["A", "A"]))  # one class: pe = 1, undefined


def test_findings_compare_weights_on_shared_images_and_rungs_through_restricted_logits(pruning):
    exp = load_experiment(pruning)
    frame = findings_frame(exp.trials, exp.path, scientific=exp.roles.scientific, metric=exp.metric, mode=exp.mode)
    weights = frame[(frame["along"] == "weights") & (frame["cell"] == "3 classes kept")].iloc[0]
    # imagenet 8/10 against none 5/10; discordant: imagenet alone right on images 5 6 7 8, none alone on 3:
    # 4 against 1, two-sided binomial p = 2 * (1 + 5) / 2^5
    assert weights["diff"] == pytest.approx(30) and weights["n_test"] == 10 and weights["p_mcnemar"] == pytest.approx(12 / 32)
    rungs = frame[(frame["along"] == "top_k") & (frame["a"] == "3 classes kept") & (frame["b"] == "5 classes kept")
                  & (frame["cell"] == "ImageNet weights")].iloc[0]
    assert rungs["acc_a"] == 80 and rungs["acc_b"] == 70 and "restricted" in rungs["how"]
    assert len(frame) == 9 and frame["p_holm"].min() >= frame["p_mcnemar"].min()
    report = (pruning / "report" / "report.md").read_text()
    assert report.index("## Findings") < report.index("## Trials")
    assert weights["sentence"] in report
    assert (pruning / "report" / "tables" / "pruning_decomposition.csv").exists()
    assert (pruning / "report" / "figures" / "pruning_decomposition.png").exists()


def test_without_saved_logits_the_report_says_why_no_paired_test_applies(tmp_path):
    exp_dir = fake.pruning_study(tmp_path / "older")
    for saved in exp_dir.glob("*/checkpoint_*/test_logits.npz"):
        saved.unlink()  # as an artstudy from before trials kept their logits
    exp = load_experiment(exp_dir)
    selection = dict(scientific=exp.roles.scientific, metric=exp.metric, mode=exp.mode)
    frame = findings_frame(exp.trials, exp.path, **selection)
    rungs = frame[frame["along"] == "top_k"]
    assert len(rungs) == 6 and rungs["p_mcnemar"].isna().all() and rungs["p_holm"].isna().all()
    assert all("no paired test" in s and "saved no test logits" in s for s in rungs["sentence"])
    weights = frame[frame["along"] == "weights"]
    assert weights["p_mcnemar"].notna().all()  # the same test images: paired without logits
    # Holm's family is the three weights comparisons alone
    assert np.allclose(np.sort(weights["p_holm"]), np.sort(holm(weights["p_mcnemar"].to_numpy())))
    parts = decomposition_frame(exp.trials, exp.path, **selection)
    assert (parts["problem"] == "the full rung saved no test logits").all() and "gain" not in parts
    assert sentences(parts) == [f"{name}: no decomposition (the full rung saved no test logits)."
                                for name in ("ImageNet weights", "random initialisation")]
    pruning_decomposition(exp.trials, exp.path, **selection)  # drawn without the restricted series
