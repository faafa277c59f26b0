"""Paired tests (analysis/significance.py) and the ImageNet-transfer correlation (analysis/transfer.py), no Ray."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.errors import AnalysisError
from analysis.significance import compare, mcnemar_exact, paired_bootstrap
from analysis.transfer import correlations, enough_backbones, transfer_frame

answers = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60)


def test_mcnemar_counts_only_the_images_one_cell_gets_right():
    a = [True] * 10 + [True] * 30 + [False] * 5
    b = [False] * 10 + [True] * 30 + [False] * 5
    assert mcnemar_exact(a, b) == pytest.approx(2 * 0.5 ** 10)  # 10 discordant, all one way
    assert mcnemar_exact(a, a) == 1.0
    # 7 against 3, whatever the concordant images: P(X <= 3) + P(X >= 7) for X ~ Bin(10, 1/2)
    # = 2 x (1 + 10 + 45 + 120) / 1024 = 2 x 176/1024 = 0.34375
    a = [True] * 7 + [False] * 3 + [True] * 50
    b = [False] * 7 + [True] * 3 + [True] * 50
    assert mcnemar_exact(a, b) == pytest.approx(0.34375, abs=1e-12)


@given(answers)
def test_mcnemar_is_a_symmetric_probability(pairs):
    a, b = zip(*pairs)
    p = mcnemar_exact(a, b)
    assert 0 < p <= 1 and p == pytest.approx(mcnemar_exact(b, a))


@given(answers)
def test_bootstrap_interval_holds_the_observed_difference_of_paired_answers(pairs):
    a, b = (np.array(x) for x in zip(*pairs))
    low, high = paired_bootstrap(a, b, resamples=200)
    diff = a.mean() - b.mean()
    assert -1 <= low <= diff + 1e-12 and diff - 1e-12 <= high <= 1


def _one_way(discordant: int, concordant: int):
    """`discordant` images only a gets right, `concordant` both get right: diff = discordant / n."""
    n = discordant + concordant
    return np.arange(n) < n, np.arange(n) >= discordant


def _normal_interval(p: float, n: int, z: float) -> tuple[float, float]:
    """The normal approximation of the interval of a mean of n 0/1 differences, p of them 1."""
    half = z * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def test_bootstrap_interval_of_one_way_discordance_excludes_zero_and_matches_the_normal_approximation():
    # 30 of 60 images only a gets right: diff = 0.5, sd of the mean = sqrt(0.25 / 60) = 0.0645
    low, high = paired_bootstrap(*_one_way(30, 30), seed=3)
    assert low > 0  # the difference is real
    expected = _normal_interval(0.5, 60, 1.959964)  # (0.3735, 0.6265)
    assert low == pytest.approx(expected[0], abs=0.03) and high == pytest.approx(expected[1], abs=0.03)
    # the same proportion on 4 x the images: half the width (1/sqrt(4))
    low4, high4 = paired_bootstrap(*_one_way(120, 120), seed=3)
    assert (high4 - low4) == pytest.approx((high - low) / 2, rel=0.15)
    # level=0.99: z = 2.5758 instead of 1.96, so 1.31 x the width, and still excluding 0
    low99, high99 = paired_bootstrap(*_one_way(30, 30), seed=3, level=0.99)
    assert 0 < low99 < low and high99 > high
    assert (high99 - low99) == pytest.approx((high - low) * 2.575829 / 1.959964, rel=0.15)
    # a fixed seed gives the same interval each time
    assert paired_bootstrap(*_one_way(30, 30), seed=3) == (low, high)


def _predictions(ids, truth, pred):
    return pd.DataFrame({"image_id": ids, "true": truth, "pred": pred})


def test_compare_pairs_images_by_id_and_refuses_different_test_sets():
    a = _predictions(["x", "y", "z", "w"], [0, 1, 1, 0], [0, 1, 0, 0])
    b = _predictions(["w", "z", "y", "x"], [0, 1, 1, 0], [1, 1, 1, 0])  # same images, other order
    result = compare(a, b)
    assert (result["acc_a"], result["acc_b"], result["only_a"], result["only_b"]) == (0.75, 0.75, 1, 1)
    assert result["diff"] == 0 and result["p"] == 1.0
    identical = compare(a, a)
    assert identical["p"] == 1.0 and identical["ci_low"] == identical["ci_high"] == 0
    with pytest.raises(AnalysisError, match="different images"):
        compare(a, b.iloc[:3])


def _trials(top1, acc, mode="fine_tune"):
    models = [f"m{i}" for i in range(len(top1))]
    return pd.DataFrame({"trial": models, "task": "material", "model": models, "mode": mode, "status": "finished",
                         "val_loss": 0.5, "imagenet_top1": top1, "test_acc": acc})


def test_transfer_correlation_across_backbones():
    trials = pd.concat([_trials([70.0, 75.0, 80.0], [0.6, 0.7, 0.8]),
                        _trials([70.0, 75.0, 80.0], [0.8, 0.7, 0.75], mode="off_the_shelf")], ignore_index=True)
    assert enough_backbones(trials)
    frame = transfer_frame(trials)
    assert sorted(frame["test_acc"].round(6)) == [60, 70, 70, 75, 80, 80]
    table = correlations(frame).frame.set_index("mode")
    assert table.loc["fine_tune", "pearson_r"] == pytest.approx(1.0)
    # ranks of ImageNet top-1 (1, 2, 3) against test accuracy (3, 1, 2): d = (-2, 1, 1), sum d^2 = 6,
    # rho = 1 - 6 x 6 / (3 x (9 - 1)) = -0.5
    assert table.loc["off_the_shelf", "spearman_r"] == pytest.approx(-0.5)
    two = _trials([70.0, 75.0, math.nan], [0.6, 0.7, 0.8])
    assert not enough_backbones(two)  # a backbone without ImageNet weights does not count
    assert math.isnan(correlations(transfer_frame(two)).frame["pearson_r"].iloc[0])


def test_the_new_analysis_modules_import_no_torch_or_ray():
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys\n"
              "import analysis.per_class, analysis.predictions, analysis.report_predictions, analysis.significance\n"
              "import analysis.transfer\n"
              "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ray', 'torchvision', 'timm'))\n"
              "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _finished_trial(experiment, name: str) -> None:
    """A trial folder whose final checkpoint holds the prediction files best_trials looks for."""
    from study.contract import CHECKPOINT_PREFIX, CLASSES_FILE, FINAL_FILE, PREDICTIONS_FILE

    folder = experiment / name / f"{CHECKPOINT_PREFIX}000003"
    folder.mkdir(parents=True)
    for file in (FINAL_FILE, PREDICTIONS_FILE, CLASSES_FILE):
        (folder / file).write_text("{}")


def test_best_trials_choose_by_validation_never_by_test(tmp_path):
    from analysis.predictions import best_trials

    # one cell (fine_tune), two lr settings x two seeds; lr 0.1 has the best test accuracy of all, but
    # its mean val_loss (0.45) is worse than lr 0.01's (0.35): lr 0.01 is the setting, then its seed 1
    rows = [("a", 0.1, 0, 0.40, 0.95), ("b", 0.1, 1, 0.50, 0.90), ("c", 0.01, 0, 0.38, 0.60),
            ("d", 0.01, 1, 0.32, 0.55), ("e", 0.01, 0, 0.20, 0.99)]
    trials = pd.DataFrame([{"trial": t, "lr": lr, "seed": seed, "val_loss": loss, "test_acc": acc, "mode": mode,
                            "status": "finished"} for (t, lr, seed, loss, acc), mode
                           in zip(rows, ["fine_tune"] * 4 + ["off_the_shelf"])])
    for name in trials["trial"]:
        _finished_trial(tmp_path, name)
    best = best_trials(trials, tmp_path, scientific=("mode",), nuisance=("lr",), metric="val_loss", mode="min")
    assert dict(zip(best["mode"], best["trial"])) == {"fine_tune": "d", "off_the_shelf": "e"}
    assert best.set_index("mode").loc["fine_tune", "trial_dir"] == tmp_path / "d"


def test_the_correlation_caption_says_what_three_backbones_can_show():
    frame = pd.DataFrame({"task": ["type"] * 3, "mode": ["off_the_shelf"] * 3, "model": ["a", "b", "c"],
                          "imagenet_top1": [75.1, 76.7, 77.6], "test_acc": [0.76, 0.78, 0.80]})
    # With n = 3 there is 1 degree of freedom: t(0.975, 1) = tan(0.475 pi) = 12.7062, so the |r| needed is
    # 12.7062 / sqrt(12.7062^2 + 1) = 0.99692
    assert "only |r| > 0.997 would be significant" in correlations(frame).caption
