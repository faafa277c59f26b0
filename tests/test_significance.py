"""Paired tests (analysis/significance.py) and the ImageNet-transfer correlation (analysis/transfer.py), no Ray."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from analysis.errors import AnalysisError
from analysis.significance import compare, mcnemar_exact, paired_bootstrap
from analysis.transfer import correlations, enough_backbones, transfer_frame

answers = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60)


def test_mcnemar_counts_only_the_images_one_cell_gets_right():
    a = [True] * 10 + [True] * 30 + [False] * 5
    b = [False] * 10 + [True] * 30 + [False] * 5
    assert mcnemar_exact(a, b) == pytest.approx(2 * 0.5 ** 10)  # 10 discordant, all one way
    assert mcnemar_exact(a, a) == 1.0
    # 7 against 3: the two-sided binomial p, whatever the concordant images
    a = [True] * 7 + [False] * 3 + [True] * 50
    b = [False] * 7 + [True] * 3 + [True] * 50
    assert mcnemar_exact(a, b) == pytest.approx(stats.binomtest(7, 10).pvalue)


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
    assert table.loc["off_the_shelf", "spearman_r"] == pytest.approx(stats.spearmanr([70, 75, 80], [80, 70, 75])[0])
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
