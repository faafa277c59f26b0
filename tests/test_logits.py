"""Every finished trial keeps its test logits (study.contract.LOGITS_FILE) beside predictions.csv: the session's
real smoke experiment (off the shelf and fine-tuned, through Ray) and a logistic-head trial, read back with
numpy alone and checked against the trial's own predictions.csv and classes.csv."""

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import load_experiment
from study.contract import CLASSES_FILE, LOGITS_FILE, PREDICTIONS_FILE, final_checkpoint
from study.trial.predictions import to_float16
from study.trial.run_trial import run_trial


def _read(folder):
    with np.load(folder / LOGITS_FILE, allow_pickle=False) as saved:  # no pickle: plain arrays only
        return {name: saved[name] for name in saved.files}


def _agrees(saved, predictions, classes, n_test, num_classes):
    logits = saved["logits"]
    assert set(saved) == {"logits", "image_id", "label"}
    assert logits.dtype == np.float16 and logits.shape == (n_test, num_classes)
    assert saved["image_id"].dtype.kind == "U" and saved["label"].dtype.kind == "U"
    assert list(saved["image_id"]) == list(predictions["image_id"])
    assert list(saved["label"]) == list(classes.sort_values("class")["label"])
    # predictions.csv's pred is the float32 argmax; in float16 it is still a largest score of its row
    # (rounding may tie it with a neighbour, never put another class above it).
    pred = predictions["pred"].to_numpy()
    rows = np.arange(n_test)
    assert (pred >= 0).all()
    assert (logits[rows, pred] == logits.max(axis=1)).all()
    assert (logits.argmax(axis=1) == pred).mean() >= 0.9


def test_every_trial_of_the_real_experiment_keeps_its_test_logits(real_experiment):
    exp = load_experiment(real_experiment)
    assert set(exp.trials["mode"]) == {"off_the_shelf", "fine_tune"}
    for row in exp.trials.itertuples():
        folder = final_checkpoint(exp.path / row.trial)
        predictions = pd.read_csv(folder / PREDICTIONS_FILE, dtype={"image_id": str})
        classes = pd.read_csv(folder / CLASSES_FILE)
        _agrees(_read(folder), predictions, classes, row.n_test, row.num_classes)


def test_a_logistic_head_trial_keeps_its_test_logits(demo_root, tmp_path):
    kept = []
    final = run_trial({"collection": "demo", "data_root": str(demo_root), "task": "material", "model": "tiny_cnn",
                       "weights": "none", "mode": "off_the_shelf", "head_fit": "logistic", "image_size": 32,
                       "cache_dir": str(tmp_path / "cache")}, on_predictions=kept.append)
    kept[0].write(tmp_path)
    predictions = pd.read_csv(tmp_path / PREDICTIONS_FILE, dtype={"image_id": str})
    classes = pd.read_csv(tmp_path / CLASSES_FILE)
    _agrees(_read(tmp_path), predictions, classes, final["n_test"], final["num_classes"])
    # the test accuracy, recomputed from the saved logits alone (a float16 near-tie may move one image)
    recomputed = (_read(tmp_path)["logits"].argmax(1) == predictions["true"]).mean()
    assert recomputed == pytest.approx(final["test_acc"], abs=1.01 / final["n_test"])


def test_float16_keeps_huge_scores_finite_and_nan_as_nan():
    got = to_float16(torch.tensor([[1e6, -1e6, 1.0], [float("nan"), 0.0, 2.5]]).numpy())
    assert got.dtype == np.float16
    assert got[0].tolist() == [65504.0, -65504.0, 1.0]  # float16's largest finite value, by its definition
    assert np.isnan(got[1, 0]) and got[1, 1:].tolist() == [0.0, 2.5]
