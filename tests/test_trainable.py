"""The Ray trainable's contract, with Ray Tune's session replaced by a recorder (no Ray started):
one report per epoch, with a state checkpoint on the epochs the checkpoint pace picks (every one with
checkpoint_share=1), one final report with model.pt, and a restart from an epoch checkpoint continues
with the epoch after it."""

import json
import shutil
import types
from pathlib import Path

import pytest
import torch

from study.contract import FINAL_FILE, MODEL_FILE, STATE_FILE, final_checkpoint
from study.run import trainable
from study.trial.run_trial import load_state

CONFIG = {"collection": "demo", "model": "tiny_cnn", "weights": "none", "task": "material", "mode": "fine_tune",
          "image_size": 16, "batch_size": 32, "max_epochs": 3, "patience": 5}


class Died(Exception):
    """The trial's process dying: nothing after it runs."""


class FakeTune:
    """Records what the trainable reports; keeps each checkpoint, as tune.report persists it."""

    Checkpoint = trainable.tune.Checkpoint

    def __init__(self, store: Path, start_from: Path | None = None, die_after: int | None = None):
        self.store, self.start_from, self.die_after = store, start_from, die_after
        self.reports: list[tuple[dict, Path | None]] = []

    def get_checkpoint(self):
        return self.Checkpoint.from_directory(str(self.start_from)) if self.start_from else None

    def get_context(self):
        return types.SimpleNamespace(get_trial_id=lambda: "fake_00000")

    def report(self, metrics, *, checkpoint=None):
        kept = None
        if checkpoint is not None:
            kept = self.store / f"checkpoint_{len(self.reports):06d}"
            shutil.copytree(checkpoint.path, kept)
        self.reports.append((dict(metrics), kept))
        if self.die_after is not None and metrics.get("epoch") == self.die_after:
            raise Died()


@pytest.fixture(scope="module")
def collection(demo_root):
    from study.data import read_collection

    return read_collection("demo", demo_root)


TIMINGS = ("epoch_time_s", "train_images_per_s", "features_time_s", "test_time_s")


def _timeless(metrics: dict) -> dict:
    """A report without its clock readings: what an exact resume must reproduce bit for bit."""
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


def run(monkeypatch, fake, collection, share=1.0, **config):
    monkeypatch.setattr(trainable, "tune", fake)
    trainable.train(dict(CONFIG, data_root=str(collection.root), **config), collection=collection, threads=1,
                    checkpoint_share=share)


class Ticks:
    """A clock that moves one second each time it is read: the checkpoint pace's decisions become exact."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 1
        return self.now


def test_reports_every_epoch_with_its_state_then_the_final_metrics(monkeypatch, tmp_path, collection):
    fake = FakeTune(tmp_path)
    run(monkeypatch, fake, collection)
    epochs = [m for m, _ in fake.reports if "epoch" in m]
    assert [m["epoch"] for m in epochs] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "val_bacc", "epoch_time_s",
            "train_images_per_s"} <= set(epochs[0])
    for metrics, folder in fake.reports[:-1]:
        assert load_state(folder / STATE_FILE)["epoch"] == metrics["epoch"]
    final, folder = fake.reports[-1]
    assert "epoch" not in final and {"test_acc", "best_epoch", "weights_used", "resolved_config"} <= set(final)
    # the trainable reports what the trial itself returns, run without Ray's session in between
    from study.trial.run_trial import run_trial

    alone = run_trial(dict(CONFIG, data_root=str(collection.root)), collection=collection)
    assert _timeless(final) == _timeless(alone)
    payload = torch.load(folder / MODEL_FILE, weights_only=True)
    assert payload["model"] == "tiny_cnn" and payload["num_classes"] == final["num_classes"]
    assert json.loads((folder / FINAL_FILE).read_text())["test_acc"] == final["test_acc"]
    assert torch.get_num_threads() == 1


@pytest.mark.reliability  # the worker-kill fault without Ray; tests/test_reliability_faults.py kills a real one
def test_a_trial_that_died_resumes_from_its_last_epoch(monkeypatch, tmp_path, collection):
    first = FakeTune(tmp_path / "first", die_after=2)
    with pytest.raises(Died):
        run(monkeypatch, first, collection)
    assert [m["epoch"] for m, _ in first.reports] == [1, 2]

    again = FakeTune(tmp_path / "again", start_from=first.reports[-1][1])
    run(monkeypatch, again, collection)
    assert [m.get("epoch") for m, _ in again.reports] == [3, None]  # epoch 3, then the final report

    whole = FakeTune(tmp_path / "whole")
    run(monkeypatch, whole, collection)
    # the engine resumes exactly: every epoch's numbers and the final ones are those of a trial never stopped
    resumed = [first.reports[0][0], first.reports[1][0], *(m for m, _ in again.reports)]
    assert [_timeless(m) for m in resumed] == [_timeless(m) for m, _ in whole.reports]


@pytest.mark.reliability
def test_short_epochs_skip_checkpoints_and_a_crash_replays_from_the_last_one(monkeypatch, tmp_path, collection):
    # With share 0.25 a trial trains 3x what a checkpoint cost before the next one. On the ticking clock a
    # checkpoint costs 1 s and each skipped epoch's check reads 1 s later: epochs 1 and 4 of 5 are checkpointed.
    monkeypatch.setattr(trainable, "time", Ticks())
    first = FakeTune(tmp_path / "first", die_after=5)
    with pytest.raises(Died):
        run(monkeypatch, first, collection, share=0.25, max_epochs=5)
    assert [(m["epoch"], folder is not None) for m, folder in first.reports] == [
        (1, True), (2, False), (3, False), (4, True), (5, False)]

    # Ray restarts the trial from its latest checkpoint, epoch 4's: epoch 5 is trained (and reported) again
    again = FakeTune(tmp_path / "again", start_from=first.reports[3][1])
    run(monkeypatch, again, collection, share=0.25, max_epochs=5)
    assert [m.get("epoch") for m, _ in again.reports] == [5, None]
    assert again.reports[0][0]["val_loss"] == first.reports[4][0]["val_loss"]  # the same epoch, replayed exactly

    whole = FakeTune(tmp_path / "whole")
    run(monkeypatch, whole, collection, max_epochs=5)
    assert again.reports[-1][0]["test_acc"] == whole.reports[-1][0]["test_acc"]


def test_a_finished_trial_restored_reports_nothing(monkeypatch, tmp_path, collection):
    fake = FakeTune(tmp_path / "done")
    run(monkeypatch, fake, collection)
    restored = FakeTune(tmp_path / "restored", start_from=fake.reports[-1][1])
    run(monkeypatch, restored, collection)
    assert restored.reports == []


@pytest.mark.reliability
def test_a_finished_trial_restored_from_an_epoch_checkpoint_reports_nothing(monkeypatch, tmp_path, collection):
    # A crash can leave Ray's experiment state naming the last epoch checkpoint although the final
    # one (and the final line in result.json) were already written beside it: no second final report.
    fake = FakeTune(tmp_path / "done")
    run(monkeypatch, fake, collection)
    last_epoch = fake.reports[-2][1]
    assert (last_epoch / STATE_FILE).is_file()
    restored = FakeTune(tmp_path / "restored", start_from=last_epoch)
    run(monkeypatch, restored, collection)
    assert restored.reports == []
    on_arrow = trainable.ArrowFiles(trainable.pyarrow.fs.LocalFileSystem())
    assert final_checkpoint(str(tmp_path / "done"), on_arrow) == str(fake.reports[-1][1])
    assert final_checkpoint(tmp_path / "done") == fake.reports[-1][1]  # the local reading agrees


def test_the_demo_fallback_is_not_announced_by_every_trial(monkeypatch, tmp_path, collection, capsys):
    """The runner says once which backbones lack ImageNet files; a Ray trial only records it in weights_used
    (30 identical notices a demo run otherwise), while run_trial on its own still says it."""
    from study.trial.run_trial import DEMO_FALLBACK, run_trial

    fake = FakeTune(tmp_path)
    monkeypatch.setattr(trainable, "tune", fake)
    config = dict(CONFIG, data_root=str(collection.root), weights="imagenet", max_epochs=1)  # tiny_cnn has none
    trainable.train(config, collection=collection, threads=1)
    assert fake.reports[-1][0]["weights_used"] == DEMO_FALLBACK
    assert "notice:" not in capsys.readouterr().err
    run_trial(config, collection=collection)
    assert capsys.readouterr().err.count("starts from random init") == 1
