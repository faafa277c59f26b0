"""analysis.load: Ray Tune folders (written by hand in Ray 2.60's layout) into trial and epoch frames.

Every expectation is computed here from the result lines themselves, not from analysis's code.
"""

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from analysis import AnalysisError, AnalysisWarning, load_experiment, load_history, load_trials
import fake_experiment as fake


def result_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "result.json").read_text().splitlines() if line.strip()]


def trial_folders(exp_dir: Path) -> list[Path]:
    return sorted(p for p in exp_dir.iterdir() if (p / "params.json").exists())


def hand_best_epoch(folder: Path) -> int:
    params = json.loads((folder / "params.json").read_text())
    monitor = params.get("monitor", "val_loss")
    epochs = [r for r in result_lines(folder) if "epoch" in r]
    pick = min if monitor == "val_loss" else max  # min()/max() keep the first of equals: the earliest epoch
    return pick(epochs, key=lambda r: r[monitor])["epoch"]


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return fake.paper_grid(tmp_path_factory.mktemp("exp") / "grid_paper")


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    return fake.partial_run(tmp_path_factory.mktemp("exp") / "partial")


def test_helper_writes_ray_layout(paper):
    folder = trial_folders(paper)[0]
    # trainable_<exp>_<index:05d>_<index>_<tag>_<date>, as Ray 2.60 names trial folders
    assert re.match(r"^trainable_[0-9a-f]{5}_00000_0_.+_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d$", folder.name)
    first = result_lines(folder)[0]
    for key in ("training_iteration", "trial_id", "done", "config", "time_total_s", "timestamp", "date"):
        assert key in first
    assert first["config"] == json.loads((folder / "params.json").read_text())
    assert (folder / "progress.csv").exists() and list(paper.glob("experiment_state-*.json"))


def test_best_epoch_is_the_monitors_not_the_last(paper):
    trials = load_experiment(paper).trials.set_index("trial")
    not_last = 0
    for folder in trial_folders(paper):
        epochs = [r for r in result_lines(folder) if "epoch" in r]
        if not any("test_acc" in r for r in result_lines(folder)):
            continue
        best = hand_best_epoch(folder)
        assert trials.loc[folder.name, "best_epoch"] == best, folder.name
        row = next(r for r in epochs if r["epoch"] == best)
        assert trials.loc[folder.name, "val_acc"] == pytest.approx(row["val_acc"])
        final = next(r for r in result_lines(folder) if "test_acc" in r)
        assert trials.loc[folder.name, "test_acc"] == pytest.approx(final["test_acc"])
        not_last += best != epochs[-1]["epoch"]
    assert not_last > 10  # the fixture really tests "not the last epoch"


def test_monitor_val_acc_picks_highest_accuracy(paper):
    trials = load_experiment(paper).trials
    row = trials[trials["monitor"] == "val_acc"].iloc[0]
    folder = paper / row["trial"]
    epochs = [r for r in result_lines(folder) if "epoch" in r]
    by_loss = min(epochs, key=lambda r: r["val_loss"])["epoch"]
    by_acc = max(epochs, key=lambda r: r["val_acc"])["epoch"]
    assert by_loss != by_acc and row["best_epoch"] == by_acc


def test_config_filled_from_resolved_config(paper):
    trials = load_experiment(paper).trials
    finished = trials[trials["status"] == "finished"]
    assert set(finished["optimizer"]) == {"sgd", "rmsprop"}  # params.json has no optimizer; resolved_config has
    assert finished["final_feature_cache"].notna().all()  # the final's feature_cache, not the config key


def test_statuses_of_a_partial_run(partial):
    exp = load_experiment(partial)
    status = dict(zip(exp.trials["lr"], exp.trials["status"]))
    assert status == {1e-4: "finished", 1e-3: "finished", 1e-2: "stopped", 3e-2: "errored", 3e-3: "unfinished",
                      3e-4: "pending"}
    errored = exp.trials[exp.trials["status"] == "errored"].iloc[0]
    assert "CUDA out of memory" in errored["error"]
    # the running trial's last line was cut mid-write: 6 lines written, 5 kept, and a warning says so
    running = exp.history[exp.history["lr"] == 3e-3]
    assert list(running["epoch"]) == [1, 2, 3, 4, 5]
    assert any("could not be read" in w and "kept the 5" in w for w in exp.warnings)
    assert set(exp.history["status"]) == {"finished", "stopped", "unfinished"}


def test_load_trials_warns(partial):
    with pytest.warns(AnalysisWarning, match="cut off"):
        trials = load_trials(partial)
    assert len(trials) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = load_history(partial)
    assert {"trial_id", "epoch", "val_acc", "model", "status"} <= set(history.columns)


def test_state_says_terminated_without_done_flag(tmp_path):
    trial = fake.FakeTrial({"model": "resnet50", "lr": 0.1}, fake.epochs_from([1, 0.9], [0.2, 0.3]),
                              status="stopped")
    exp_dir = fake.write_experiment(tmp_path / "e", [trial])
    result = next(exp_dir.glob("trainable_*")) / "result.json"
    lines = result.read_text().splitlines()
    lines[-1] = lines[-1].replace('"done": true', '"done": false')
    result.write_text("\n".join(lines) + "\n")
    assert load_experiment(exp_dir).trials["status"].tolist() == ["stopped"]


def test_a_nested_config_becomes_slash_joined_columns(tmp_path):
    config = {"model": "resnet50", "depth": 3, "head": {"kind": "mlp", "width": {"hidden": 64}}, "tags": ["a", "b"]}
    trial = fake.FakeTrial(config, fake.epochs_from([1, 0.9], [0.2, 0.3]), {"best_epoch": 2, "test_acc": 0.5})
    row = load_experiment(fake.write_experiment(tmp_path / "e", [trial])).trials.iloc[0]
    assert (row["head/kind"], row["head/width/hidden"], row["tags"]) == ("mlp", 64, ["a", "b"])
    assert row["depth"] == 3 and "head" not in row.index


def test_progress_csv_when_result_json_is_missing(tmp_path):
    trial = fake.FakeTrial({"model": "resnet50"}, fake.epochs_from([1, 0.8, 0.9], [0.2, 0.4, 0.3]),
                              {"best_epoch": 2, "test_acc": 0.5})
    exp_dir = fake.write_experiment(tmp_path / "e", [trial])
    (next(exp_dir.glob("trainable_*")) / "result.json").unlink()
    exp = load_experiment(exp_dir)
    assert exp.trials["best_epoch"].tolist() == [2]
    assert any("progress.csv" in w for w in exp.warnings)


def test_restarted_trial_keeps_latest_epoch_rows(tmp_path):
    epochs = fake.epochs_from([1.0, 0.8, 0.9], [0.2, 0.4, 0.3])
    repeat = dict(epochs[1], val_acc=0.45)  # epoch 2 reported again after a restore
    trial = fake.FakeTrial({"model": "resnet50"}, epochs + [repeat], status="running")
    exp = load_experiment(fake.write_experiment(tmp_path / "e", [trial]))
    assert exp.history["epoch"].tolist() == [1, 2, 3]
    assert exp.history.loc[exp.history["epoch"] == 2, "val_acc"].item() == 0.45


def test_mixed_spaces_warn_and_load(tmp_path):
    exp = load_experiment(fake.mixed_spaces(tmp_path / "mixed"))
    assert len(exp.trials) == 4 and exp.roles.guessed
    text = " ".join(exp.warnings)
    assert "study.json is missing" in text and "different config keys" in text and "other_trainable" in text


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "is empty"),
    (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is a file"),
    (lambda p: (p / "other").mkdir() or (p / "other" / "notes.txt").write_text("x") and p / "other",
     "not a Ray Tune experiment folder"),
])
def test_not_an_experiment(tmp_path, make, message):
    with pytest.raises(AnalysisError, match=message):
        load_experiment(make(tmp_path))


def test_storage_folder_names_its_experiments(tmp_path):
    fake.partial_run(tmp_path / "storage" / "asha")
    with pytest.raises(AnalysisError, match=r"holds experiments.*asha"):
        load_experiment(tmp_path / "storage")


def test_study_json_only(tmp_path):
    fake.write_study(tmp_path, {"space": "grid_paper", "question": "q?"})
    exp = load_experiment(tmp_path)
    assert exp.trials.empty and any("no trials" in w for w in exp.warnings)


def test_analysis_defaults_match_the_trial_config():
    from analysis.roles import DEFAULTS, MONITORS
    from study import config

    assert MONITORS == config.MONITORS
    defaults = config.TrialConfig()
    for key, value in DEFAULTS.items():
        assert getattr(defaults, key) == value, key


def test_trial_columns_are_tidy(paper):
    trials = load_experiment(paper).trials
    assert trials["trial_id"].is_unique
    assert pd.api.types.is_numeric_dtype(trials["test_acc"])
    assert {"trial_id", "trial", "status", "task", "model", "mode", "seed", "epochs", "best_epoch", "test_acc",
            "test_bacc", "num_classes"} <= set(trials.columns)


def test_pending_trials_without_a_folder(tmp_path):
    trial = fake.FakeTrial({"model": "resnet50", "lr": 1e-3}, fake.epochs_from([1.0], [0.3]), status="running")
    exp_dir = fake.write_experiment(tmp_path / "e", [trial])
    _, entry = fake.write_trial(tmp_path / "elsewhere", 1, fake.FakeTrial({"model": "vgg19", "lr": 1e-2},
                                                                              status="pending"), varied=["lr"])
    state = json.loads(next(exp_dir.glob("experiment_state-*.json")).read_text())
    state["trial_data"].append([json.dumps(entry["meta"]), json.dumps(entry["runtime"])])
    next(exp_dir.glob("experiment_state-*.json")).write_text(json.dumps(state))
    trials = load_experiment(exp_dir).trials.set_index("model")
    assert trials.loc["resnet50", "status"] == "unfinished" and trials.loc["vgg19", "status"] == "pending"


def test_searcher_trial_folders_are_one_trainable(tmp_path):
    # OptunaSearch trials carry 8-hex ids; a grid's carry `<5 hex>_<index:05d>`: both are the trainable `train`
    trials = [fake.FakeTrial({"model": m}, fake.epochs_from([1.0, 0.9], [0.3, 0.4])) for m in ("vgg19", "alexnet")]
    exp_dir = fake.write_experiment(tmp_path / "e", trials, state=False)
    for folder, name in zip(trial_folders(exp_dir), ("train_3f9a2c71_1", "train_1c8a5_00001_1")):
        folder.rename(exp_dir / name)
    exp = load_experiment(exp_dir)
    assert len(exp.trials) == 2
    assert not any("different trainables" in w for w in exp.warnings), exp.warnings
