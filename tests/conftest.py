"""Shared test setup: every cache in a temporary folder, Ray on loopback, one torch thread.

Fixtures that build real collections live beside the tests that need them, or below.
"""

import atexit
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before anything imports Ray or torch, so worker processes inherit them too.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a local Ray binds 127.0.0.1 only
if "ARTSTUDY_CACHE" not in os.environ:  # a fresh cache per session, removed when it ends
    os.environ["ARTSTUDY_CACHE"] = tempfile.mkdtemp(prefix="artstudy-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ARTSTUDY_CACHE"], ignore_errors=True)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


DEMO_IMAGES = 300  # enough for every task to keep 11-18 classes in every split; written in 1-2 s


def built_once(tmp_path_factory, name: str, build) -> Path:
    """`build(folder)` run once for the whole test run, shared by pytest-xdist's workers (README's test
    command runs two): the first worker to ask builds it under a file lock, the others wait and read it.
    A build that failed is removed and tried again by whoever asks next, so its error is seen again."""
    from filelock import FileLock

    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process (-n 0): a plain session fixture
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # the run's folder, above every worker's own
    folder, built = root / name, root / f"{name}.built"
    with FileLock(root / f"{name}.lock"):
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            built.touch()
    return folder


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A small demo collection (Rijksmuseum layout, 300 images, seed 0), written once per test run."""
    from study.data import write_demo

    return built_once(tmp_path_factory, "demo", lambda folder: write_demo(folder / "demo", images=DEMO_IMAGES, seed=0)
                      ) / "demo"


@pytest.fixture(scope="session")
def local_ray():
    """One in-process Ray for the session, as the runner starts it: 2 CPUs, no dashboard, loopback only.
    Tests that need a cluster of their own (a lost node, a killed driver) start theirs in a subprocess."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def real_experiment(real_run):
    return real_run[0]


@pytest.fixture(scope="session")
def real_run(demo_root, tmp_path_factory):
    """One real experiment folder, written by Ray Tune itself, and the arguments that wrote it:
    `python -m study.run --space smoke` on the small demo with tests/runs.py's settings, in its own process
    (so its Ray neither meets nor outlives the tests' own). It is run once per test run, and read by the
    runner's end-to-end tests (tests/test_run.py), analysis, predictions and the trackers, so a change in
    Ray's layout fails a test; and it is the clean run every fault test must end equal to (clean_smoke_run)."""
    storage = built_once(tmp_path_factory, "real-results", lambda folder: _run_smoke_once(demo_root, folder))
    return storage / "smoke", json.loads((storage / "argv.json").read_text())


def _run_smoke_once(demo_root: Path, storage: Path) -> None:
    import subprocess

    from runs import REPO, smoke_argv

    extra = ["--max-concurrent", "1"]
    # The trackers whose extras are installed log this run too (tests/test_trackers.py reads them), offline:
    # MLflow into a file store beside the experiment, W&B in offline mode into the same folder. They
    # change no number, so the run is still the fault tests' clean one.
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(storage), WANDB_SILENT="true")
    if importlib.util.find_spec("mlflow"):
        extra += ["--mlflow", str(storage / "mlruns")]
    if importlib.util.find_spec("wandb"):
        extra += ["--wandb", "artstudy-tests"]
    command = smoke_argv(demo_root, storage, "smoke", *extra, report=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, f"the smoke run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (storage / "argv.json").write_text(json.dumps(command[3:]))  # the arguments after `python -m study.run`


def _report_holds_the_trials_numbers(experiment, report):
    """What `report` (written from the Ray folder `experiment`) says, against each trial's own result.json:
    one row per trial with its final test accuracy, each epoch's val_acc, and the isolation table's test
    accuracy per scientific cell, in the CSVs and in report.md."""
    import json
    from pathlib import Path

    import pandas as pd

    from analysis.intervals import fmt_interval
    from closed_form import wilson_closed_form

    finals, epochs = {}, {}
    for trial in Path(experiment).iterdir():
        if (trial / "result.json").is_file():
            lines = [json.loads(x) for x in (trial / "result.json").read_text().splitlines() if x.strip()]
            finals[trial.name] = {**json.loads((trial / "params.json").read_text()),
                                  **next(r for r in lines if "test_acc" in r)}
            epochs[trial.name] = [(r["epoch"], r["val_acc"]) for r in lines if "epoch" in r]
    assert finals, f"no trial folders in {experiment}"
    trials = pd.read_csv(Path(report) / "data" / "trials.csv").set_index("trial")
    assert sorted(trials.index) == sorted(finals)
    history = pd.read_csv(Path(report) / "data" / "history.csv")
    md = (Path(report) / "report.md").read_text()
    isolation = pd.read_csv(Path(report) / "tables" / "isolation.csv")
    for name, final in finals.items():
        assert trials.loc[name, "test_acc"] == pytest.approx(final["test_acc"])
        assert trials.loc[name, "status"] == "finished"
        mine = history[history["trial_id"] == trials.loc[name, "trial_id"]].sort_values("epoch")
        assert mine["epoch"].tolist() == [e for e, _ in epochs[name]]
        assert mine["val_acc"].tolist() == pytest.approx([v for _, v in epochs[name]])
        (row,) = isolation[isolation["mode"] == final["mode"]].itertuples()  # smoke: one trial per mode
        assert row.test_acc_mean == pytest.approx(100 * final["test_acc"]) and row.test_acc_n == 1
        low, high = wilson_closed_form(final["test_acc"], final["n_test"])  # each accuracy's 95% interval
        assert f"{100 * final['test_acc']:.2f}{fmt_interval(low, high)} (n=1)" in md


@pytest.fixture(scope="session")
def report_holds_the_trials_numbers():
    return _report_holds_the_trials_numbers


@pytest.fixture(scope="session")
def clean_smoke_run(real_run):
    """The smoke space on the small demo, run once without a fault: what every fault test must end with."""
    return real_run[0]


# The modules that start real Ray runs, longest first (python -m pytest --durations=30). pytest-xdist hands
# whole modules to its two workers in collection order (pyproject.toml turns off its reordering by test
# count, which put these last), so the long ones start first and the hundreds of short tests fill the gaps.
LONGEST_FIRST = ["test_reliability_faults.py", "test_run.py", "test_study_file_run.py", "test_resume.py",
                 "test_reliability_lost_node.py", "test_backbones_real.py", "test_reliability_disk.py",
                 "test_tuner_paths.py", "test_analysis_report.py", "test_analysis_pruning.py",
                 "test_reliability_exposure.py", "test_bench_rows.py"]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module, and of every other module, is kept
