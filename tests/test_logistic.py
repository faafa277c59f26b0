"""The logistic-regression head (Kornblith et al. 2019): its linear layer is scikit-learn's fit, its L2 is val's pick."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
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


def test_the_l2_strength_is_the_one_val_prefers():
    x, y = blobs(3)
    vx, vy = blobs(3, seed=1)
    grid = (1e-4, 1e-2, 1.0, 100.0)
    losses = {}
    for c in grid:
        losses[c] = fit_logistic(x, y, vx, vy, num_classes=3, grid=(c,)).metrics["val_loss"]
    chosen = fit_logistic(x, y, vx, vy, num_classes=3, grid=grid)
    assert chosen.c == min(losses, key=losses.get)
    assert chosen.metrics["val_loss"] == pytest.approx(min(losses.values()), rel=1e-3)


def test_a_class_missing_from_train_is_never_predicted():
    x, y = blobs(3)
    keep = y != 2
    fit = fit_logistic(x[keep], y[keep], x, y, num_classes=4, grid=(1.0,))
    assert set((x @ fit.weight.T + fit.bias).argmax(1)) <= {0, 1}
