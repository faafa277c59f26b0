"""`python -m study.run`: the smoke study end to end through Ray on CPU, study.json, and the one-line
errors every bad input gets before any trial starts."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from runs import EPOCHS

from search_spaces import list_spaces
from study.config import CONFIG_KEYS


def rows(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def smoke(real_run):
    """The session's one real smoke run (conftest `real_run`, which asserts its exit status 0)."""
    folder, argv = real_run
    return 0, folder, argv


def test_smoke_runs_every_trial_through_ray_on_loopback(smoke):
    code, folder, _ = smoke
    assert code == 0  # every trial's node_ip below is 127.0.0.1: Ray on loopback
    trials = sorted(p for p in folder.iterdir() if (p / "params.json").exists())
    assert len(trials) == 2 and all(re.fullmatch(r"train_[0-9a-f]{5}_\d{5}_\d+", p.name) for p in trials)
    for trial in trials:
        params = json.loads((trial / "params.json").read_text())
        assert set(params) <= set(CONFIG_KEYS) and params["model"] == "tiny_cnn"
        lines = rows(trial)
        assert [r["epoch"] for r in lines if "epoch" in r] == list(range(1, EPOCHS + 1))
        finals = [r for r in lines if "test_acc" in r]
        assert len(finals) == 1 and lines[-1] is finals[0] and "epoch" not in finals[0]
        assert finals[0]["resolved_config"]["optimizer"] in ("rmsprop", "sgd")
        assert {r["node_ip"] for r in lines} == {"127.0.0.1"}
        checkpoints = sorted(trial.glob("checkpoint_*"))
        assert len(checkpoints) == 1  # the last epoch's state (num_to_keep=2) pruned once the trial finished
        assert (checkpoints[-1] / "model.pt").is_file() and (checkpoints[-1] / "final.json").is_file()


def test_study_json_says_what_was_studied(smoke):
    _, folder, argv = smoke
    study = json.loads((folder / "study.json").read_text())
    assert study["space"] == "smoke" and study["question"].endswith("?")
    assert study["roles"]["scientific"] == ["mode"] and "model" in study["roles"]["fixed"]
    assert (study["metric"], study["mode"]) == ("val_acc", "max")
    assert study["command"].startswith("python -m study.run --space smoke") and study["argv"] == argv
    assert {"artstudy", "python", "torch", "torchvision", "timm", "ray", "optuna"} <= set(study["versions"])
    assert set(study["collection"]["tasks"]) == {"material"} and study["collection"]["collection"] == "demo"
    assert study["budget"] == "demo" and study["seeds"] == 1 and study["created"]
    assert study["trials"] == {"planned": 2, "reported": 2, "final": 2, "errored": 0, "weights_used": {"none": 2}}


def test_the_report_holds_the_trials_numbers(smoke, report_holds_the_trials_numbers):
    _, folder, _ = smoke
    report_holds_the_trials_numbers(folder, folder / "report")


def test_an_existing_experiment_is_not_overwritten(smoke):
    from study.run.cli import main

    _, folder, argv = smoke
    assert main(argv) == 2


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing run
REPO = Path(__file__).resolve().parents[1]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "study.run", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


# Through a subprocess: argparse's exit and what is refused before anything heavy is imported.
EARLY = {
    "unknown space": (["--space", "grid_papers"], "unknown search space 'grid_papers'; did you mean 'grid_paper'? known spaces: cross_collection"),
    "unknown key": (["--space", "smoke", "--set", "learning_rate=0.1"], "known keys: collection, data_root"),
    "wrong type": (["--space", "smoke", "--set", "max_epochs=lots"], "max_epochs='lots' is not a valid int"),
    "overflow": (["--space", "smoke", "--set", "max_epochs=1e400"], "max_epochs='1e400' is not a valid int"),
    "not a number": (["--space", "smoke", "--set", "lr=nan"], "lr='nan' is not a valid float: give a finite number"),
    "unknown collection": (["--space", "smoke", "--data", "TMP", "--collection", "wikiart"],
                           "invalid choice: 'wikiart' (choose from 'rijksmuseum', 'imet', 'folder', 'csv', 'demo')"),
    "not that collection": (["--space", "smoke", "--data", "TMP", "--collection", "rijksmuseum"],
                            "is not a rijksmuseum collection"),
}
# In this process (torch is imported once): the same main(), its exit status and stderr.
LATE = {
    "no equals": (["--space", "smoke", "--set", "lr"], "--set takes KEY=VALUE"),
    "data, no collection": (["--space", "smoke", "--data", "TMP"], "--data needs --collection: one of rijksmuseum"),
    "bad mode": (["--space", "smoke", "--set", "mode=frozen", "DEMO"], "choose one of off_the_shelf, fine_tune"),
    "missing task": (["--space", "grid_paper", "--set", "task=colour", "DEMO"], "has tasks material, type, artist"),
    "unknown model": (["--space", "grid_paper", "--set", "model=vgg16", "DEMO"], "known models: alexnet"),
    "too small": (["--space", "grid_paper", "--set", "image_size=32", "model=inception_v3", "DEMO"],
                  "needs at least 75 px"),
    "gpu": (["--space", "smoke", "--gpus-per-trial", "0.5", "DEMO"], "no GPU is visible"),
    "nothing to resume": (["--space", "smoke", "--resume", "--name", "never"], "nothing to resume"),
    "seeds for optuna": (["--space", "lr_sweep", "--seeds", "3", "DEMO"], "spaces with seeds: cross_collection"),
    "checkpoint share": (["--space", "smoke", "--checkpoint-share", "0", "DEMO"], "--checkpoint-share 0.0: give a fraction"),
    # a real collection (the demo's files read as the rijksmuseum they imitate) and no ImageNet file cached
    "no weights": (["--space", "smoke", "--set", "model=resnet18", "weights=imagenet", "RIJKS"],
                   "no ImageNet weights for resnet18: put resnet18-"),
}


def one_error_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1].split("\r")[-1].strip()  # after any progress bar
    assert last.startswith("error: ") and expected in last, stderr


@pytest.mark.parametrize("case", EARLY)
def test_bad_input_is_one_line_and_exit_2(case, tmp_path):
    args, expected = EARLY[case]
    out = cli(*[str(tmp_path) if a == "TMP" else a for a in args], "--storage", str(tmp_path / "r"))
    assert out.returncode == 2, out.stdout + out.stderr
    one_error_line(out.stderr, expected)
    assert not (tmp_path / "r").exists()  # nothing started, nothing written


@pytest.mark.parametrize("case", LATE)
def test_bad_input_is_refused_before_any_trial(case, demo_root, tmp_path, capsys, monkeypatch):
    from study.run.cli import main

    args, expected = LATE[case]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty weights cache, whatever this machine has
    monkeypatch.delenv("ARTSTUDY_WEIGHTS_DIR", raising=False)
    if case == "gpu":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    demo = ["--data", str(demo_root), "--collection", "demo"] if "DEMO" in args else []
    if "RIJKS" in args:
        demo = ["--data", str(demo_root), "--collection", "rijksmuseum"]
    argv = [str(tmp_path) if a == "TMP" else a for a in args if a not in ("DEMO", "RIJKS")] + demo
    assert main(argv + ["--storage", str(tmp_path / "r")]) == 2
    one_error_line(capsys.readouterr().err, expected)
    assert not (tmp_path / "r").exists()


def test_help_lists_every_space():
    out = cli("--help")
    assert out.returncode == 0
    for name in list_spaces():
        assert name in out.stdout


def test_demo_without_imagenet_files_says_so_once(demo_root, tmp_path, monkeypatch, capsys):
    from search_spaces import get_space
    from study.run.planning import Collections, make_context, plan
    from study.run.cli import build_parser, check_weights, experiment_options, print_skipped

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARTSTUDY_WEIGHTS_DIR", raising=False)
    options = experiment_options(build_parser().parse_args(["--space", "grid_paper", "--data", str(demo_root),
                                                             "--collection", "demo"]))
    collections = Collections()
    ctx = make_context(options, collections)
    stages = plan(get_space("grid_paper"), ctx, collections)
    print_skipped(stages)
    check_weights(stages, ctx, address=None)
    out = capsys.readouterr().out
    # one line: the paper's backbones skipped, the command that fetches them, what runs instead
    assert out.count("python -m study.weights fetch alexnet inception_v3 resnet50 vgg19 xception") == 1
    assert "skipped: alexnet" in out and "efficientnet_lite0" in out and "install with artstudy" in out
    assert {c["model"] for s in stages for c in s.trial_configs()} == {f"efficientnet_lite{i}" for i in range(3)}



def test_the_consoles_best_of_each_cell_is_the_reports_isolation_table(tmp_path):
    """A scheduler-stopped trial is judged at its best epoch and an errored one not at all, by the console
    as by the report: here the stopped lr=0.1 trial's last report (val_acc 0.9) would beat the finished
    lr=0.01 one (0.8), but its best epoch by its monitor (val_loss) scored 0.7."""
    import fake_experiment as fake
    from analysis import load_experiment
    from analysis.tables import isolation_table
    from study.run.experiment import best_of_each_cell

    study = {"space": "lr_sweep", "question": "Which lr?", "metric": "val_acc", "mode": "max",
             "roles": {"scientific": ["model"], "nuisance": ["lr"], "fixed": []}}
    final = {"best_epoch": 2, "test_acc": 0.75, "val_acc": 0.8, "val_loss": 0.8, "num_classes": 3}
    folder = fake.write_experiment(tmp_path / "exp", [
        fake.FakeTrial({"model": "a", "lr": 0.1}, fake.epochs_from([1.0, 2.0], [0.7, 0.9]), status="stopped"),
        fake.FakeTrial({"model": "a", "lr": 0.01}, fake.epochs_from([1.0, 0.8], [0.6, 0.8]), final),
        fake.FakeTrial({"model": "a", "lr": 1.0}, fake.epochs_from([0.5], [0.95]), status="errored"),
    ], study)
    printed = best_of_each_cell(str(folder))
    (row,) = [line.split() for line in printed.splitlines()[2:]]
    assert row[:2] == ["a", "0.01"] and "75.00" in printed  # the finished setting, its test accuracy
    found = load_experiment(folder)
    table = isolation_table(found.trials, scientific=["model"], nuisance=["lr"], metric="val_acc", mode="max")
    assert all(str(column) in printed.splitlines()[0] for column in table.display.columns)
    assert all(str(value) in printed.splitlines()[2] for value in table.display.iloc[0])


def test_cross_collection_stage_two_starts_from_stage_ones_model(local_ray, demo_root, tmp_path):
    """Both stages through Ray: stage 1 fine-tunes on the source, then stage 2's explicit cells (a list of
    configs, BasicVariantGenerator points) train from the file stage 1 wrote, beside ImageNet's weights."""
    from study.run.cli import main

    storage = tmp_path / "results"
    argv = ["--space", "cross_collection", "--data", str(demo_root), "--collection", "demo",
            "--source-data", str(demo_root), "--source-collection", "demo", "--storage", str(storage),
            "--name", "cc", "--no-report", "--set", "model=tiny_cnn", "max_epochs=1", "patience=1"]
    assert main(argv) == 0  # no report: this test reads the stages' trials (a report is test_the_report_...)
    (source,) = [p for p in (storage / "cc-source").iterdir() if (p / "params.json").exists()]
    assert "test_acc" in rows(source)[-1]  # stage 1 finished
    model_file = sorted(source.glob("checkpoint_*"))[-1] / "model.pt"
    assert model_file.is_file()
    target = [json.loads((p / "params.json").read_text()) for p in (storage / "cc").iterdir()
              if (p / "params.json").exists()]
    assert sorted((t["mode"], t["weights"] != "imagenet") for t in target) == [
        ("fine_tune", False), ("fine_tune", True), ("off_the_shelf", False), ("off_the_shelf", True)]
    for params in target:
        if params["weights"] != "imagenet":
            assert Path(params["weights"]) == model_file
    finals = [rows(p)[-1] for p in (storage / "cc").iterdir() if (p / "params.json").exists()]
    # stage 2 names what it started from: stage 1's collection and task, its start (tiny_cnn has no ImageNet
    # file, so the demo's random init), and its trial; never the absolute path
    origin = f"trained on demo/material from none, trial {rows(source)[-1]['trial_id']}"
    assert sorted(f["weights_used"] for f in finals).count(origin) == 2
    # The report's per-class figure names stage 2's cells the same way in its legend (below the axes):
    # stage 1's collection, task and trial number, not the model file's path.
    from analysis import load_experiment
    from analysis.per_class import long_tail

    experiment = load_experiment(storage / "cc")
    fig = long_tail(experiment.trials, experiment.path, "material", scientific=("weights",))
    (legend,) = fig.legends
    number = re.search(r"_(\d{5})$", rows(source)[-1]["trial_id"]).group(1)
    assert sorted(t.get_text() for t in legend.get_texts()) == [
        f"model=tiny_cnn, mode={mode}, weights={weights}" for mode in ("fine_tune", "off_the_shelf")
        for weights in ("imagenet", f"stage 1: demo/material, trial {number}")]
