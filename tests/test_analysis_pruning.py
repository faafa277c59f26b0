"""The label-count study's report: a perfect trial, a class without test images and a one-class rung."""

import pytest

import fake_experiment as fake
from analysis.per_class import confused_pairs
from analysis.predictions import read_predictions
from analysis.report import main


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
