"""Backbone comparisons and the ImageNet-transfer table on a real run: two backbones through Ray and the runner.

efficientnet_lite0 (its packaged ImageNet weights) and resnet18 (no ImageNet file here, so the demo
collection's random-init fallback) off the shelf, with the logistic head (one feature pass each, no
epochs) at 64 px. Only efficientnet_lite1/2 would give the transfer table three ImageNet points; they
are not registered, so its Pearson r is checked as "too few backbones" (NaN), and its one point's top-1.
"""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from closed_form import mcnemar_closed_form
from runs import run_smoke, trials

from analysis import load_experiment
from analysis.significance import backbone_comparisons
from analysis.transfer import correlation_table, imagenet_vs_transfer

MODELS = ("efficientnet_lite0", "resnet18")


@pytest.fixture(scope="module")
def two_backbones(demo_root, tmp_path_factory):
    return run_smoke(demo_root, tmp_path_factory.mktemp("backbones"), "backbones", "--grid", f"model={','.join(MODELS)}",
                     sets=["weights=imagenet", "mode=off_the_shelf", "head_fit=logistic", "image_size=64",
                                 "max_epochs=1"])


def _predictions(trial: Path) -> tuple[str, pd.DataFrame]:
    """(model, test predictions) read straight from the trial's folder, not through analysis."""
    model = json.loads((trial / "params.json").read_text())["model"]
    (path,) = trial.glob("checkpoint_*/predictions.csv")
    return model, pd.read_csv(path, dtype={"image_id": str}).set_index("image_id")


def test_backbones_are_compared_on_the_same_test_images(two_backbones):
    saved = dict(_predictions(t) for t in trials(two_backbones))
    assert sorted(saved) == sorted(MODELS)
    a, b = saved[MODELS[0]], saved[MODELS[1]]
    shared = a.index.intersection(b.index)
    assert len(shared) == len(a) == len(b) > 0
    right_a = (a.loc[shared, "pred"] == a.loc[shared, "true"])
    right_b = (b.loc[shared, "pred"] == b.loc[shared, "true"])
    exp = load_experiment(two_backbones)
    table = backbone_comparisons(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                                 metric=exp.metric, mode=exp.mode).frame
    assert len(table) == 1
    row = table.iloc[0]
    first = MODELS.index(row["model_a"])  # the table orders the pair by the paper's backbone order
    rights = (right_a, right_b) if first == 0 else (right_b, right_a)
    assert {row["model_a"], row["model_b"]} == set(MODELS)
    assert row["n_test"] == len(shared)
    assert row["acc_a"] == pytest.approx(100 * rights[0].mean()) and row["acc_b"] == pytest.approx(100 * rights[1].mean())
    assert row["diff"] == pytest.approx(100 * (rights[0].mean() - rights[1].mean()))
    only_a, only_b = int((rights[0] & ~rights[1]).sum()), int((~rights[0] & rights[1]).sum())
    assert (row["only_a"], row["only_b"]) == (only_a, only_b)
    assert row["p_mcnemar"] == pytest.approx(mcnemar_closed_form(only_a, only_b))


def test_the_transfer_table_holds_the_one_imagenet_backbone(two_backbones):
    exp = load_experiment(two_backbones)
    used = exp.trials.set_index("model")["weights_used"]
    assert used["efficientnet_lite0"] == "imagenet" and used["resnet18"] != "imagenet"
    table = correlation_table(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                              metric=exp.metric, mode=exp.mode).frame
    assert len(table) == 1 and table["backbones"].iloc[0] == 1  # resnet18 fell back: no ImageNet top-1
    assert math.isnan(table["pearson_r"].iloc[0])  # fewer than three backbones: no correlation
    top1 = exp.trials.set_index("model")["imagenet_top1"]
    assert top1["efficientnet_lite0"] == 75.1  # Google's EfficientNet-Lite README
    fig = imagenet_vs_transfer(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                               metric=exp.metric, mode=exp.mode)
    (ax,) = fig.axes
    (points,) = ax.collections
    lite0 = exp.trials.set_index("model").loc["efficientnet_lite0"]
    assert [tuple(p) for p in points.get_offsets()] == [pytest.approx((75.1, 100 * lite0["test_acc"]))]
