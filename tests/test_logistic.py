"""The logistic-regression head (Kornblith et al. 2019): its linear layer is scikit-learn's fit, its L2 is val's pick."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from study.trial.logistic import fit_logistic


def blobs(n_classes: int, seed: int = 0, n: int = 60, dim: int = 20):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_classes, dim))
    y = rng.integers(0, n_classes, size=n)
    x = centres[y] + rng.normal(scale=3.0, size=(n, dim)) + 5.0  # offset and noise: standardising matters
    return x.astype(np.float32), y


@pytest.mark.parametrize("n_classes", [2, 4])
def test_the_head_reproduces_scikit_learns_probabilities_on_raw_features(n_classes):
    x, y = blobs(n_classes)
    vx, vy = blobs(n_classes, seed=1)
    fit = fit_logistic(x, y, vx, vy, num_classes=n_classes, grid=(0.05,))
    reference = LogisticRegression(C=0.05, max_iter=1000).fit(StandardScaler().fit(x).transform(x), y)
    expected = reference.predict_proba(StandardScaler().fit(x).transform(vx))
    logits = vx @ fit.weight.T + fit.bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    assert fit.metrics["val_acc"] == pytest.approx(float((probs.argmax(1) == vy).mean()))


GRID = (1e-4, 1e-2, 1.0, 100.0)


def _reference_val_scores(x, y, vx, vy):
    """Per C, scikit-learn's own fit on standardised train (no warm start), scored on val: (log loss, accuracy)."""
    scaler = StandardScaler().fit(x)
    out = {}
    for c in GRID:
        model = LogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(scaler.transform(x), y)
        probs = model.predict_proba(scaler.transform(vx))
        out[c] = (log_loss(vy, probs, labels=model.classes_), float((model.classes_[probs.argmax(1)] == vy).mean()))
    return out


def test_the_l2_strength_is_the_one_val_loss_prefers():
    x, y = blobs(3)
    vx, vy = blobs(3, seed=1)
    reference = _reference_val_scores(x, y, vx, vy)
    losses = {c: loss for c, (loss, _) in reference.items()}
    chosen = fit_logistic(x, y, vx, vy, num_classes=3, grid=GRID)
    assert chosen.c == min(losses, key=losses.get)
    assert chosen.metrics["val_loss"] == pytest.approx(min(losses.values()), rel=1e-3)


def test_monitor_val_acc_picks_the_most_accurate_c():
    x, y = blobs(3, seed=3)
    vx, vy = blobs(3, seed=103)  # here val_loss prefers C = 0.01 and val_acc C = 100 (36 of 60 right, not 34)
    reference = _reference_val_scores(x, y, vx, vy)
    accs = {c: acc for c, (_, acc) in reference.items()}
    chosen = fit_logistic(x, y, vx, vy, num_classes=3, grid=GRID, monitor="val_acc")
    assert chosen.c == max(accs, key=accs.get) != min(reference, key=lambda c: reference[c][0])
    # within one of 60 images: at C = 100, almost unregularised, the two fits stop at different iterations
    assert chosen.metrics["val_acc"] == pytest.approx(max(accs.values()), abs=1 / 60 + 1e-9)


def test_a_logistic_trial_is_one_fit_not_an_early_stop(demo_root, tmp_path):
    from study.trial.run_trial import run_trial

    seen = []
    final = run_trial({"collection": "demo", "data_root": str(demo_root), "task": "type", "model": "tiny_cnn",
                       "weights": "none", "image_size": 32, "mode": "off_the_shelf", "head_fit": "logistic",
                       "max_epochs": 5, "cache_dir": str(tmp_path)}, lambda m, s: seen.append(m))
    assert len(seen) == 1 and seen[0]["epoch"] == 1
    assert final["epochs_run"] == 1 and final["best_epoch"] == 1
    assert final["stopped_early"] is False  # patience cut nothing short: the fit is the whole of it


def test_a_class_missing_from_train_is_never_predicted():
    x, y = blobs(3)
    keep = y != 2
    fit = fit_logistic(x[keep], y[keep], x, y, num_classes=4, grid=(1.0,))
    assert set((x @ fit.weight.T + fit.bias).argmax(1)) <= {0, 1}
