"""Backbone comparisons and the ImageNet-transfer table on a real run: three backbones through Ray and the runner.

efficientnet_lite0, _lite1 and _lite2 with their packaged ImageNet weights, off the shelf with the logistic
head (one feature pass each, no epochs) at 64 px: every pair is compared on the same test images, and
the transfer table's Pearson r is recomputed here from the three points by its formula.
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

MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PUBLISHED_TOP1 = {"efficientnet_lite0": 75.1, "efficientnet_lite1": 76.7, "efficientnet_lite2": 77.6}  # Google's README


@pytest.fixture(scope="module")
def three_backbones(demo_root, tmp_path_factory):
    return run_smoke(demo_root, tmp_path_factory.mktemp("backbones"), "backbones", "--grid", f"model={','.join(MODELS)}",
                     sets=["weights=imagenet", "mode=off_the_shelf", "head_fit=logistic", "image_size=64",
                                 "max_epochs=1"])


def _predictions(trial: Path) -> tuple[str, pd.DataFrame]:
    """(model, test predictions) read straight from the trial's folder, not through analysis."""
    model = json.loads((trial / "params.json").read_text())["model"]
    (path,) = trial.glob("checkpoint_*/predictions.csv")
    return model, pd.read_csv(path, dtype={"image_id": str}).set_index("image_id")


def test_backbones_are_compared_on_the_same_test_images(three_backbones):
    saved = dict(_predictions(t) for t in trials(three_backbones))
    assert sorted(saved) == sorted(MODELS)
    exp = load_experiment(three_backbones)
    table = backbone_comparisons(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                                 metric=exp.metric, mode=exp.mode).frame
    assert len(table) == 3  # every pair of the three, once
    for _, row in table.iterrows():
        a, b = saved[row["model_a"]], saved[row["model_b"]]
        shared = a.index.intersection(b.index)
        assert len(shared) == len(a) == len(b) > 0
        right_a = a.loc[shared, "pred"] == a.loc[shared, "true"]
        right_b = b.loc[shared, "pred"] == b.loc[shared, "true"]
        assert row["n_test"] == len(shared)
        assert row["acc_a"] == pytest.approx(100 * right_a.mean()) and row["acc_b"] == pytest.approx(100 * right_b.mean())
        assert row["diff"] == pytest.approx(100 * (right_a.mean() - right_b.mean()))
        only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
        assert (row["only_a"], row["only_b"]) == (only_a, only_b)
        assert row["p_mcnemar"] == pytest.approx(mcnemar_closed_form(only_a, only_b))


def test_the_transfer_table_correlates_the_three_published_top1(three_backbones):
    exp = load_experiment(three_backbones)
    by_model = exp.trials.set_index("model")
    assert (by_model["weights_used"] == "imagenet").all()
    assert by_model["imagenet_top1"].to_dict() == PUBLISHED_TOP1
    table = correlation_table(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                              metric=exp.metric, mode=exp.mode).frame
    assert len(table) == 1 and table["backbones"].iloc[0] == 3
    # Pearson's r by its definition: the centred points' cross product over the product of their norms
    x = [PUBLISHED_TOP1[m] for m in MODELS]
    y = [100 * by_model.loc[m, "test_acc"] for m in MODELS]
    dx = [v - sum(x) / 3 for v in x]
    dy = [v - sum(y) / 3 for v in y]
    norm = math.sqrt(sum(v * v for v in dx) * sum(v * v for v in dy))
    if norm == 0:  # three equal accuracies: no correlation is defined
        assert math.isnan(table["pearson_r"].iloc[0])
    else:
        assert table["pearson_r"].iloc[0] == pytest.approx(sum(a * b for a, b in zip(dx, dy)) / norm)
    fig = imagenet_vs_transfer(exp.trials, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                               metric=exp.metric, mode=exp.mode)
    (ax,) = fig.axes
    (points,) = ax.collections
    drawn = sorted(tuple(p) for p in points.get_offsets())
    assert [c for p in drawn for c in p] == pytest.approx([c for p in sorted(zip(x, y)) for c in p])
