"""A trial's saved model: an off-the-shelf model.pt holds the head and names its frozen backbone, and
still loads whole (models.load_model) and as weights=PATH; a trial reads task images per batch."""

import pickle

import numpy as np
import pytest
import torch

from study.data import load_images, prepare_task, read_collection
from study.data.images import CachedRows
from study.trial import engine
from study.trial.features import backbone_fingerprint
from study.trial.models import get_model, load_model
from study.trial.run_trial import run_trial
from study.trial.transforms import ArrayDataset, ToInput, epoch_batches, make_loader
from study.trial.weights import WeightsError

BASE = {"collection": "demo", "task": "material", "model": "resnet18", "weights": "none", "image_size": 32,
        "max_epochs": 2, "patience": 2, "seed": 3}


@pytest.fixture(scope="module")
def demo(demo_root):
    return read_collection("demo", demo_root)


def _trial(demo, tmp_path, **over):
    saved = {}
    config = {**BASE, "data_root": str(demo.root), "cache_dir": str(tmp_path / "cache"), **over}
    final = run_trial(config, collection=demo, on_end=lambda f, payload: saved.update(payload))
    torch.save(saved, tmp_path / "model.pt")
    return final, saved


def _test_accuracy(model, demo, tmp_path, task="material"):
    frame = prepare_task(demo, task).frame.reset_index(drop=True)
    rows = np.flatnonzero(frame["split"].to_numpy() == "test")
    pixels = load_images(demo, frame, 32, cache_dir=tmp_path / "cache")
    loader = make_loader(ArrayDataset(pixels, frame["y"].to_numpy()), [torch.from_numpy(rows)])
    metrics = engine.evaluate(model, loader, model.head.out_features, torch.device("cpu"),
                              ToInput(model.info.mean, model.info.std))
    return metrics["acc"]


def test_an_off_the_shelf_model_file_holds_the_head_and_reloads_whole(demo, tmp_path):
    final, saved = _trial(demo, tmp_path)
    assert set(saved["state_dict"]) == {"head.weight", "head.bias"}
    reference = saved["backbone_reference"]
    assert reference["weights"] == "none" and reference["seed"] == 3
    whole = get_model("resnet18", final["num_classes"]).state_dict()
    assert (tmp_path / "model.pt").stat().st_size * 50 < sum(t.numel() * t.element_size() for t in whole.values())

    model = load_model(tmp_path / "model.pt")
    assert backbone_fingerprint(model.backbone) == reference["fingerprint"]
    assert torch.equal(model.head.weight, saved["state_dict"]["head.weight"])
    # the reloaded whole model scores on the test images exactly what the trial reported
    assert _test_accuracy(model, demo, tmp_path) == pytest.approx(final["test_acc"])

    later = get_model("resnet18", 4, weights=str(tmp_path))  # weights=<folder holding model.pt>
    assert torch.equal(later.backbone.conv1.weight, model.backbone.conv1.weight) and later.head.out_features == 4


def test_reloading_leaves_the_callers_random_state_alone(demo, tmp_path):
    _trial(demo, tmp_path, max_epochs=1)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    load_model(tmp_path / "model.pt")
    assert torch.equal(torch.rand(3), expected)


def test_a_backbone_that_is_not_the_one_named_is_refused(demo, tmp_path):
    _, saved = _trial(demo, tmp_path, max_epochs=1)
    saved["backbone_reference"]["seed"] = 4  # another random init than the trial's
    torch.save(saved, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not the same here"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="holds a resnet18 backbone, but this trial builds a tiny_cnn"):
        get_model("tiny_cnn", 3, weights=str(tmp_path / "model.pt"))


def test_a_fine_tuned_model_file_holds_every_weight_and_reloads_whole(demo, tmp_path):
    final, saved = _trial(demo, tmp_path, mode="fine_tune", max_epochs=1)
    assert "backbone_reference" not in saved and any(k.startswith("backbone.") for k in saved["state_dict"])
    model = load_model(tmp_path / "model.pt")
    assert _test_accuracy(model, demo, tmp_path) == pytest.approx(final["test_acc"])


def test_cached_rows_read_only_what_is_indexed_and_pickle_as_a_reference(demo, tmp_path):
    frame = prepare_task(demo, "artist").frame  # some images are anonymous: not consecutive in the cache
    rows = load_images(demo, frame, 32, cache_dir=tmp_path, lazy=True)
    copy = load_images(demo, frame, 32, cache_dir=tmp_path)
    assert isinstance(rows, CachedRows) and rows.shape == copy.shape and len(rows) == len(frame)
    assert np.array_equal(rows[3:9], copy[3:9]) and np.array_equal(rows[np.array([5, 0, 7])], copy[[5, 0, 7]])
    assert np.array_equal(np.asarray(rows), copy)
    pickled = pickle.dumps(ArrayDataset(rows, frame["y"].to_numpy()))
    assert len(pickled) < copy.nbytes / 10  # a DataLoader worker maps the file; it is not sent the pixels
    batch, labels = pickle.loads(pickled)[torch.tensor([2, 4])]
    assert torch.equal(batch, torch.from_numpy(copy[[2, 4]])) and len(labels) == 2
    assert len(list(make_loader(ArrayDataset(rows, frame["y"].to_numpy()), epoch_batches(len(rows), 16)))) > 1


def test_an_epoch_state_holds_the_best_weights_once_and_resumes_exactly(demo, tmp_path):
    # lr 1.0 on val_acc: accuracy stalls (a tie is no improvement), so some states hold an earlier best
    states, seen = [], []
    config = {**BASE, "model": "tiny_cnn", "mode": "fine_tune", "max_epochs": 5, "patience": 5, "lr": 1.0,
              "monitor": "val_acc", "data_root": str(demo.root), "cache_dir": str(tmp_path / "cache")}
    whole = run_trial(config, on_epoch=lambda m, s: (states.append(s), seen.append(m)), collection=demo)
    # the test metrics are the best epoch's weights', not the last epoch's
    assert whole["best_epoch"] < whole["epochs_run"] == 5, "lr 1.0 no longer stalls: pick a config that does"
    assert whole["val_acc"] == seen[whole["best_epoch"] - 1]["val_acc"] != seen[-1]["val_acc"]
    model = get_model("tiny_cnn", whole["num_classes"])
    model.load_state_dict(states[whole["best_epoch"] - 1]["trainable"])
    assert _test_accuracy(model, demo, tmp_path) == whole["test_acc"]
    first = states[0]  # epoch 1 is always the best so far
    assert first["best_is_current"] and first["early_stopping"]["best_state"] is None
    resumed_states = []
    resumed = run_trial(config, on_epoch=lambda m, s: resumed_states.append(s), state=first, collection=demo)
    assert resumed["test_acc"] == whole["test_acc"] and resumed["best_epoch"] == whole["best_epoch"]
    by_epoch = {s["epoch"]: s for s in states}
    behind = [s for s in resumed_states if not s["best_is_current"]]
    assert behind, "every epoch improved: nothing checks a best state carried over a resume"
    for state in behind:  # the best weights carried across the resume are that epoch's own
        best = by_epoch[state["early_stopping"]["best_epoch"]]["trainable"]
        assert all(torch.equal(best[k], v) for k, v in state["early_stopping"]["best_state"].items())
