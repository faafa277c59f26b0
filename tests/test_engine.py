"""The plain-PyTorch loop on random tensors: optimisers, metrics, early stopping, exact repeats on CPU."""

import math

import pytest
import torch
from torch import nn

from study.trial import engine
from study.trial.transforms import ArrayDataset, epoch_batches, epoch_generator, make_loader

CPU = torch.device("cpu")


def test_paper_optimisers():
    params = [nn.Parameter(torch.zeros(2))]
    rms = engine.make_optimizer(params, "rmsprop", 1e-3)
    assert isinstance(rms, torch.optim.RMSprop)
    assert rms.defaults["alpha"] == 0.9 and rms.defaults["eps"] == 1e-8  # Keras rho=0.9, epsilon=1e-8
    sgd = engine.make_optimizer(params, "sgd", 1e-3, momentum=0.9, nesterov=True)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    assert isinstance(engine.make_optimizer(params, "adamw", 1e-3, weight_decay=0.05), torch.optim.AdamW)
    with pytest.raises(ValueError, match="rmsprop, sgd, adamw"):
        engine.make_optimizer(params, "adam", 1e-3)


def test_metrics_against_hand_counts():
    # 3 classes; truth 0,0,0,1,2 ; predicted 0,0,1,1,1
    logits = torch.tensor([[5, 0, 0], [5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 5, 0]], dtype=torch.float)
    y = torch.tensor([0, 0, 0, 1, 2])
    m = engine.classification_metrics(logits, y, 3)
    assert m["acc"] == pytest.approx(3 / 5)
    assert m["bacc"] == pytest.approx((2 / 3 + 1 + 0) / 3)  # mean class accuracy
    f1_0, f1_1, f1_2 = 2 * 1 * (2 / 3) / (1 + 2 / 3), 2 * (1 / 3) * 1 / (1 / 3 + 1), 0.0
    assert m["f1"] == pytest.approx((f1_0 + f1_1 + f1_2) / 3)
    assert m["top5"] == 1.0  # 3 classes: every label is in the top 5
    assert m["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item())


def test_top5_with_many_classes():
    logits = torch.arange(8, dtype=torch.float).repeat(2, 1)  # class 7 ranked first, class 0 last
    m = engine.classification_metrics(logits, torch.tensor([3, 2]), 8)
    assert m["top5"] == 0.5  # top five are 7..3
    assert all(math.isnan(v) for v in engine.classification_metrics(torch.empty(0, 8), torch.empty(0, dtype=torch.long), 8).values())


def test_early_stopping_counts_patience_and_keeps_the_best():
    stop = engine.EarlyStopping("min", patience=3)
    values = [1.0, 0.8, 0.9, 0.8, 0.85, 0.7, 0.75]  # 0.8 again is not "better"
    stopped_at = None
    for epoch, v in enumerate(values, 1):
        stop.step(v, epoch, lambda: {"w": torch.tensor([float(epoch)])})
        if stop.should_stop:
            stopped_at = epoch
            break
    assert stopped_at == 5 and stop.best_epoch == 2 and stop.best_state["w"].item() == 2.0
    again = engine.EarlyStopping()
    again.load_state_dict(stop.state_dict())
    assert again.best_value == 0.8 and again.bad_epochs == 3
    zero = engine.EarlyStopping("max", patience=0)
    zero.step(0.5, 1, dict)
    assert not zero.should_stop
    zero.step(0.4, 2, dict)
    assert zero.should_stop
    nan = engine.EarlyStopping("min", patience=2)
    nan.step(math.nan, 1, dict)
    nan.step(1.0, 2, dict)
    assert nan.best_epoch == 2


def _blobs(n, seed, k=3, d=8, noise=0.25):
    """k Gaussian blobs (fixed centres), a share `noise` of labels flipped so a big step size overfits."""
    centres = torch.randn(k, d, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    x = centres[y] + torch.randn(n, d, generator=g)
    flip = torch.rand(n, generator=g) < noise
    return x, torch.where(flip, torch.randint(0, k, (n,), generator=g), y)


def _fit(seed, epochs=25, patience=3, lr=0.05):
    x, y = _blobs(96, seed=1)
    xv, yv = _blobs(48, seed=2)
    train, val = ArrayDataset(x, y), ArrayDataset(xv, yv)
    engine.seed_everything(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = engine.make_optimizer(model.parameters(), "sgd", lr, momentum=0.9, nesterov=True)
    stop = engine.EarlyStopping("min", patience)
    history = []
    for epoch in range(1, epochs + 1):
        engine.train_one_epoch(model, make_loader(train, epoch_batches(96, 16, epoch_generator(seed, epoch))), opt, CPU)
        val_metrics = engine.evaluate(model, make_loader(val, epoch_batches(48, 48)), 3, CPU)
        history.append(val_metrics["loss"])
        stop.step(val_metrics["loss"], epoch, model.state_dict)
        if stop.should_stop:
            break
    return model, stop, history, val


def test_training_learns_stops_and_restores_the_best_state():
    model, stop, history, val = _fit(seed=0, lr=0.1)  # noisy labels: val loss bottoms out, then rises
    assert len(history) < 25, "early stopping should end this run"
    assert len(history) == stop.best_epoch + stop.patience
    assert stop.best_value == min(history)
    model.load_state_dict(stop.best_state)
    best = engine.evaluate(model, make_loader(val, epoch_batches(48, 48)), 3, CPU)
    assert best["loss"] == pytest.approx(stop.best_value, abs=1e-6)
    assert best["acc"] > 0.6 and history[-1] > stop.best_value  # chance is 1/3


def test_a_seeded_cpu_run_repeats_exactly():
    a, _, history_a, _ = _fit(seed=3, epochs=4, patience=10)
    b, _, history_b, _ = _fit(seed=3, epochs=4, patience=10)
    c, _, history_c, _ = _fit(seed=4, epochs=4, patience=10)
    assert history_a == history_b and history_a != history_c
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_last_batch_of_one_is_merged():
    sizes = [len(b) for b in epoch_batches(33, 16, epoch_generator(0, 1))]
    assert sizes == [16, 17]
    assert sorted(torch.cat(epoch_batches(33, 16, epoch_generator(0, 1))).tolist()) == list(range(33))


def test_rng_state_round_trips():
    saved = engine.rng_state()
    first = torch.rand(3)
    engine.set_rng_state(saved)
    assert torch.equal(torch.rand(3), first)


def test_non_finite_logits_count_as_wrong():
    # rows a diverged model scored NaN/inf are errors, never silently "class 0"
    logits = torch.tensor([[float("nan")] * 6, [0.0, 9, 0, 0, 0, 0], [float("inf"), 0, 0, 0, 0, 0], [9.0, 0, 0, 0, 0, 0]])
    y = torch.tensor([0, 1, 0, 0])
    out = engine.classification_metrics(logits, y, 6)
    assert out["acc"] == 0.5 and out["top5"] == 0.5 and math.isnan(out["loss"])
    assert out["bacc"] == pytest.approx((1 / 3 + 1) / 2)
    few = engine.classification_metrics(logits[:, :3], y, 3)
    assert few["top5"] == 0.5
