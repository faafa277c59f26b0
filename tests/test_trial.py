"""Whole trials on the small demo collection (fixture `demo_root`): metrics, resume, checks, caches."""

import math

import pytest
import torch

from study.data import DataError, prepare_task, read_collection
from study.errors import StudyError
from study.trial.models import ModelError
from study.trial.run_trial import DEMO_FALLBACK, load_state, run_trial, save_state
from study.trial.weights import WeightsError, WeightsNotFound

EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_bacc", "epoch_time_s", "train_images_per_s"}
FINAL_KEYS = {"best_epoch", "test_acc", "test_bacc", "test_f1", "test_top5", "num_classes", "n_train", "n_val",
              "n_test", "weights_used", "val_loss", "val_acc", "val_bacc", "epochs_run", "stopped_early",
              "diverged", "feature_cache", "resolved_config", "imagenet_top1", "features_time_s", "test_time_s"}
TINY = {"model": "tiny_cnn", "weights": "none", "image_size": 32, "batch_size": 32}


@pytest.fixture(scope="module")
def demo(demo_root):
    return read_collection("demo", demo_root)


def _run(demo, tmp_path=None, on_epoch=None, state=None, on_end=None, on_predictions=None, **config):
    config = {"collection": "demo", "data_root": str(demo.root), **TINY, **config}
    if tmp_path is not None:
        config["cache_dir"] = str(tmp_path)
    return run_trial(config, on_epoch, state, collection=demo, on_end=on_end, on_predictions=on_predictions)


def _by_hand(truth, pred) -> dict:
    """Accuracy, mean per-class recall and macro F1 over the classes in truth or predictions, counted out."""
    truth, pred = list(truth), list(pred)
    recalls, f1s = [], []
    for c in sorted(set(truth) | set(pred)):
        hit = sum(t == p == c for t, p in zip(truth, pred))
        in_truth, in_pred = truth.count(c), pred.count(c)
        if in_truth:
            recalls.append(hit / in_truth)
        f1s.append(2 * hit / (in_truth + in_pred))
    return {"acc": sum(t == p for t, p in zip(truth, pred)) / len(truth), "bacc": sum(recalls) / len(recalls),
            "f1": sum(f1s) / len(f1s)}


def test_trial_beats_chance_and_reports_the_contract(demo):
    seen, predicted = [], []
    final = _run(demo, on_epoch=lambda m, s: seen.append(m), on_predictions=predicted.append, mode="fine_tune",
                 optimizer="adamw", lr=3e-3, image_size=64, max_epochs=12, task="material")
    task = prepare_task(demo, "material")
    test = task.frame[task.frame["split"] == "test"]
    chance = test["label"].value_counts(normalize=True).max()  # always guessing the most common class
    assert final["test_acc"] > chance + 0.1, (final["test_acc"], chance)
    assert all(set(m) == EPOCH_KEYS for m in seen) and [m["epoch"] for m in seen] == list(range(1, 13))
    assert set(final) == FINAL_KEYS
    assert final["val_acc"] == seen[final["best_epoch"] - 1]["val_acc"]  # the best epoch's, not the last's
    assert (final["n_train"], final["n_val"], final["n_test"]) == tuple(task.counts()[s] for s in ("train", "val", "test"))
    assert final["resolved_config"]["optimizer"] == "adamw" and final["resolved_config"]["image_size"] == 64
    assert final["feature_cache"] == "n/a: fine_tune" and final["weights_used"] == "none"
    assert final["features_time_s"] == 0.0 and final["test_time_s"] > 0
    assert final["diverged"] is False
    (table,) = [p.table for p in predicted]
    hand = _by_hand(table["true"], table["pred"])
    assert (final["test_acc"], final["test_bacc"], final["test_f1"]) == pytest.approx(
        (hand["acc"], hand["bacc"], hand["f1"]))
    top5 = [row["true_label"] in {row[f"top{i}_label"] for i in range(1, 6)} for _, row in table.iterrows()]
    assert final["test_top5"] == pytest.approx(sum(top5) / len(top5)) and final["test_top5"] >= final["test_acc"]


@pytest.mark.parametrize("config", [
    {"mode": "fine_tune", "augment": True, "optimizer": "sgd", "lr": 0.01},  # whole model, dropout-free but BN, RNG
    {"mode": "off_the_shelf", "lr": 0.01},  # the head on cached features
], ids=["fine_tune_augment", "off_the_shelf_cached"])
def test_resume_is_exact(demo, tmp_path, config):
    metrics = []

    def keep(m, state):
        metrics.append(m)
        save_state(state, tmp_path / f"state{m['epoch']}.pt")  # through disk, weights_only on the way back

    whole = _run(demo, tmp_path, keep, max_epochs=4, task="type", **config)
    resumed_metrics = []
    resumed = _run(demo, tmp_path, lambda m, s: resumed_metrics.append(m), load_state(tmp_path / "state2.pt"),
                   max_epochs=4, task="type", **config)
    timings = ("epoch_time_s", "train_images_per_s", "feature_cache", "features_time_s", "test_time_s")
    same = lambda m: {k: v for k, v in m.items() if k not in timings}  # noqa: E731
    assert [same(m) for m in resumed_metrics] == [same(m) for m in metrics[2:]]
    assert same(resumed) == same(whole) and whole["epochs_run"] == 4


def test_a_state_of_another_trial_is_refused(demo, tmp_path):
    states = []
    _run(demo, tmp_path, lambda m, s: states.append(s), max_epochs=1, task="type")
    with pytest.raises(StudyError, match="differs in classes"):
        _run(demo, tmp_path, state=states[0], max_epochs=2, task="material")


def test_feature_cache_miss_hit_and_same_result_as_without(demo, tmp_path):
    runs = [_run(demo, tmp_path, max_epochs=3, task="artist", feature_cache=cache) for cache in (True, True, False)]
    assert [r["feature_cache"] for r in runs] == ["miss", "hit", "off"]
    assert runs[0]["features_time_s"] > 0 and runs[1]["features_time_s"] == runs[2]["features_time_s"] == 0.0
    for other in runs[1:]:
        assert other["test_acc"] == runs[0]["test_acc"]
        assert other["val_loss"] == pytest.approx(runs[0]["val_loss"], rel=1e-5)
    assert _run(demo, tmp_path, max_epochs=1, augment=True)["feature_cache"] == "bypassed: augment"


def test_best_model_payload_starts_a_later_trial(demo, tmp_path):
    saved = {}
    _run(demo, tmp_path, max_epochs=1, mode="fine_tune", on_end=lambda final, model: saved.update(model))
    assert saved["model"] == "tiny_cnn" and saved["num_classes"] == len(saved["classes"]) and saved["input_size"] == 32
    (tmp_path / "ckpt").mkdir()
    torch.save(saved, tmp_path / "ckpt" / "model.pt")
    final = _run(demo, tmp_path, max_epochs=1, task="type", weights=str(tmp_path / "ckpt"))
    # named by what it was trained on, never by its path
    assert final["weights_used"] == "trained on demo/material from none"
    torch.save(saved["state_dict"], tmp_path / "ckpt" / "raw.pt")  # a bare state dict says nothing more
    raw = _run(demo, tmp_path, max_epochs=1, task="type", weights=str(tmp_path / "ckpt" / "raw.pt"))
    assert raw["weights_used"] == "checkpoint ckpt/raw.pt"
    with pytest.raises(WeightsError, match="holds a tiny_cnn backbone"):
        _run(demo, tmp_path, model="resnet18", max_epochs=1, weights=str(tmp_path / "ckpt"))


def test_demo_falls_back_to_random_init_and_says_so(demo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARTSTUDY_WEIGHTS_DIR", raising=False)
    final = _run(demo, tmp_path, model="resnet18", weights="imagenet", max_epochs=1)
    assert final["weights_used"] == DEMO_FALLBACK
    assert "resnet18-f37072fd.pth" in capsys.readouterr().err
    # the same files read as a real collection: no silent fallback
    rijks = read_collection("rijksmuseum", demo.root)
    with pytest.raises(WeightsNotFound, match="resnet18-f37072fd.pth"):
        run_trial({"collection": "rijksmuseum", "data_root": str(demo.root), **TINY, "model": "resnet18",
                   "weights": "imagenet", "cache_dir": str(tmp_path)}, collection=rijks)


BAD_INPUT = [
    ({"model": "inception_v3", "image_size": 64}, ModelError, "at least 75 px"),
    ({"model": "vgg20"}, ModelError, "known models"),
    ({"mode": "off_the_shelf", "trainable_blocks": 2}, ModelError, "fine_tune only"),
    ({"mode": "fine_tune", "trainable_blocks": 9}, ModelError, "has 3 blocks"),
    ({"task": "colour"}, DataError, "material"),
    ({"min_per_class": 100}, DataError, "one class"),
    ({"split": "0.9,0.0,0.1"}, StudyError, "no validation images"),
    ({"weights": "/no/such/file.pt"}, StudyError, "neither 'imagenet', 'none' nor an existing checkpoint"),
    ({"optimizer": "adam"}, StudyError, "rmsprop, sgd, adamw"),
]


@pytest.mark.parametrize("config, error, match", BAD_INPUT, ids=[next(iter(c)) + "-" + m.split()[0] for c, _, m in BAD_INPUT])
def test_bad_input_fails_before_training(demo, config, error, match):
    epochs = []
    with pytest.raises(error, match=match):
        _run(demo, on_epoch=lambda m, s: epochs.append(m), **config)
    assert not epochs


def test_state_round_trips_through_weights_only(tmp_path):
    state = {"epoch": 2, "t": torch.arange(3), "nested": [{"a": 1.5, "b": "x"}], "nan": math.nan}
    save_state(state, tmp_path / "s.pt")
    back = load_state(tmp_path / "s.pt")
    assert back["epoch"] == 2 and torch.equal(back["t"], state["t"]) and back["nested"] == state["nested"]


def test_a_diverging_trial_stops_and_says_so(demo, capsys):
    # lr 1e30 turns the weights to inf/NaN in the first epoch: the trial must end cleanly, not crash in sklearn
    seen = []
    final = _run(demo, on_epoch=lambda m, s: seen.append(m), mode="fine_tune", optimizer="sgd", lr=1e30,
                 max_epochs=5, patience=5, task="material")
    assert final["diverged"] is True and final["epochs_run"] == len(seen) < 5
    assert not math.isfinite(seen[-1]["train_loss"])
    assert 0.0 <= final["test_acc"] <= 1.0 and "diverged in epoch" in capsys.readouterr().err


def test_loader_workers_start_once_per_trial_without_fork(demo, tmp_path):
    """num_workers > 0: the same results as reading in-process, from worker processes started once for the
    whole trial (persistent: the same ones at every epoch) by the data layer's start method, never a fork
    of this process with its torch threads, and gone when the trial returns."""
    import multiprocessing
    import os

    import psutil

    from study.data.parallel import START_METHOD

    def workers():
        return {p.pid: psutil.Process(p.pid).ppid() for p in multiprocessing.active_children()}

    before = set(workers())
    seen = []
    config = dict(mode="fine_tune", task="material", max_epochs=3, patience=3, seed=1)
    with_workers = _run(demo, tmp_path, num_workers=2, **config,
                        on_epoch=lambda m, s: seen.append({p: pp for p, pp in workers().items() if p not in before}))
    assert len(seen[0]) == 2 and seen == [seen[0]] * 3  # two workers, the same two at every epoch
    if START_METHOD == "forkserver":  # children of the fork server, not of this process
        assert os.getpid() not in seen[0].values()
    assert set(workers()) - before == set()
    in_process = _run(demo, tmp_path, **config)
    for key in ("test_acc", "val_loss", "best_epoch"):
        assert with_workers[key] == in_process[key]


@pytest.mark.parametrize("mode", ["fine_tune", "off_the_shelf"])
def test_each_epoch_trains_on_the_train_split_and_only_on_it(demo, monkeypatch, mode):
    """The train and val passes share one DataLoader: each must see its own rows (a pass that took its rows
    when built, not when run, once trained every epoch on the validation images)."""
    from study.trial import engine

    trained, real = [], engine.train_one_epoch

    def counting(*args, **kwargs):
        fit = real(*args, **kwargs)
        trained.append(fit["images"])
        return fit

    monkeypatch.setattr(engine, "train_one_epoch", counting)
    final = _run(demo, mode=mode, max_epochs=2, patience=2, task="type")
    assert final["n_train"] != final["n_val"]  # else the count below could not tell them apart
    assert trained == [final["n_train"]] * 2
