"""A study file through real Ray Tune: two scientific values x one tuned nuisance x 2 samples on the tiny
backbone plans, runs, resumes and reports as a built-in space does (each run in its own process and Ray)."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

REPO = Path(__file__).resolve().parents[1]
STUDY = {
    "name": "tiny_lr", "question": "Does fine-tuning beat a head on frozen features once lr is tuned?",
    "scheduler": "asha",
    "samples_per_cell": 2,
    "scientific": {"mode": ["off_the_shelf", "fine_tune"]},
    "nuisance": {"lr": "loguniform:1e-3:1e-1"},
    "fixed": {"model": "tiny_cnn", "weights": "none", "task": "material", "image_size": 32, "batch_size": 16,
              "max_epochs": 2, "patience": 2},
    "why": {"lr": "tuned inside each mode"},
}


def run(*argv):
    done = subprocess.run([sys.executable, "-m", "study.run", *argv], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def dry_run(*argv):
    """--dry-run starts no Ray and no trial: run in this process, its printed plan captured."""
    from study.run.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--dry-run"]) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def ran(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study-file")
    path = tmp / "tiny_lr.toml"
    path.write_text(tomli_w.dumps(STUDY))
    argv = ["--space", str(path), "--data", str(demo_root), "--collection", "demo", "--storage", str(tmp / "r")]
    planned = dry_run(*argv)
    first = run(*argv)
    resumed = run(*argv, "--resume", "--no-report")  # the first run's report is the one read below
    return planned, first, resumed, tmp / "r" / "tiny_lr"


def trial_params(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("train_*/params.json"))]


def test_the_study_file_plans_its_cells_times_samples(ran):
    planned, *_ = ran
    assert "Optuna (QMC) per cell, 2 samples each: lr ~ log-uniform[0.001, 0.1]; ASHA within each cell" in planned
    assert planned.rstrip().endswith("\n4 trials")


def test_every_trial_ran_with_its_cells_value_and_a_sampled_lr(ran):
    _, first, _, folder = ran
    params = trial_params(folder)
    assert sorted(p["mode"] for p in params) == ["fine_tune", "fine_tune", "off_the_shelf", "off_the_shelf"]
    assert all(1e-3 <= p["lr"] <= 1e-1 and p["model"] == "tiny_cnn" for p in params)
    assert len({p["lr"] for p in params}) == 4  # each sample drew its own rate


def test_study_json_and_the_report_carry_the_files_roles(ran):
    _, first, _, folder = ran
    study = json.loads((folder / "study.json").read_text())
    assert study["space"] == "tiny_lr" and study["question"] == STUDY["question"]
    assert study["roles"]["scientific"] == ["mode"] and study["roles"]["nuisance"] == ["lr"]
    assert "lr" not in study["roles"]["fixed"] and study["distributions"] == {"lr": "log-uniform[0.001, 0.1]"}
    assert study["trials"]["planned"] == 4
    report = (folder / "report" / "report.md").read_text()
    assert STUDY["question"] in report and "**nuisance** (optimised away" in report
    assert "report:" in first


def test_resume_keeps_every_finished_trial(ran):
    _, _, resumed, folder = ran
    assert "resuming" in resumed
    assert len(trial_params(folder)) == 4  # nothing ran again
    study = json.loads((folder / "study.json").read_text())
    assert study["trials"]["planned"] == 4 and study["trials"]["errored"] == 0
