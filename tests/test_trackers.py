"""--mlflow and --wandb: Ray's own logger callbacks, checked on the session's real smoke experiment (conftest
`real_experiment` passes them whenever the extra is installed), offline."""

import os

import pytest

from analysis import load_experiment
from study.run import cli, trackers


def test_mlflow_has_one_run_per_trial_with_its_test_accuracy(real_experiment):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install -e '.[mlflow]')")
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # as the run set it: MLflow 3's file store
    client = MlflowClient(trackers.mlflow_uri(str(real_experiment.parent / "mlruns")))
    experiment = client.get_experiment_by_name(real_experiment.name)
    assert experiment is not None, "no MLflow experiment named after the Ray experiment"
    runs = {r.data.tags["trial_name"]: r for r in client.search_runs([experiment.experiment_id])}
    trials = load_experiment(real_experiment).trials
    assert sorted(runs) == sorted(trials["trial"])
    for row in trials.itertuples():
        run = runs[row.trial]
        assert run.data.params["mode"] == row.mode and run.data.params["model"] == "tiny_cnn"
        assert run.data.metrics["test_acc"] == pytest.approx(row.test_acc)
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert len(history) == row.epochs  # one point per epoch (the final report has no train_loss)


def test_wandb_offline_keeps_one_run_per_trial(real_experiment):
    pytest.importorskip("wandb", reason="the wandb extra is not installed (pip install -e '.[wandb]')")
    runs = sorted((real_experiment.parent / "wandb").glob("offline-run-*/run-*.wandb"))
    trials = load_experiment(real_experiment).trials
    assert len(runs) == len(trials)
    for run in runs:
        data = run.read_bytes()
        assert b"test_acc" in data and b"val_loss" in data  # its history holds the epochs and the final report


def test_uris_and_missing_packages():
    assert trackers.mlflow_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert trackers.mlflow_uri("runs").startswith("file:///") and trackers.mlflow_uri("runs").endswith("/runs")
    args = cli.build_parser().parse_args(["--space", "smoke", "--mlflow"])
    assert args.mlflow == trackers.MLFLOW_DEFAULT and args.wandb is None
    assert trackers.callbacks("exp") == []


def test_a_tracker_whose_package_is_missing_is_one_line(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(trackers.TrackerError, match=r"--wandb needs the wandb package: pip install -e \"\.\[wandb\]\""):
        trackers.check_installed(None, "project")
