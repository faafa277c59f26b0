"""Helpers for the tests that run `python -m study.run` and then read what Ray Tune wrote.

The fault tests (a killed worker, a killed driver, a lost node) all run the smoke space on the small
demo with the settings below, so each can compare its trials with one clean run of the same seeds.
"""

import json
import subprocess
import sys
from pathlib import Path

from study.bench.experiment import last_per_epoch

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 6  # long enough that a trial is still running when a fault is injected
SETS = [f"max_epochs={EPOCHS}", f"patience={EPOCHS}", "batch_size=8"]


def smoke_argv(demo_root: Path, storage: Path, name: str, *extra: str, sets=SETS, share: str | None = "1",
               report: bool = False) -> list[str]:
    # Every epoch checkpointed (the default pace skips most of these tiny epochs' checkpoints): a fault
    # injected after epoch k then has a known checkpoint to restart from, and the trials stay slow enough
    # for the tests to catch them running. tests/test_trainable.py covers the pace's skipping and replay.
    # share=None: the default pace. No report unless asked: these runs are compared trial by trial, and
    # the report (~8 s a run) is tested on the session's real run (conftest real_run).
    pace = ["--checkpoint-share", share] if share is not None else []
    no_report = [] if report else ["--no-report"]
    return [sys.executable, "-m", "study.run", "--space", "smoke", "--data", str(demo_root), "--collection", "demo",
            "--storage", str(storage), "--name", name, *pace, *no_report, *extra, "--set", *sets]


def run_smoke(demo_root: Path, storage: Path, name: str, *extra: str, timeout: int = 300, env=None, sets=SETS,
              share: str | None = "1", report: bool = False):
    done = subprocess.run(smoke_argv(demo_root, storage, name, *extra, sets=sets, share=share, report=report),
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    assert done.returncode == 0, f"the run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return storage / name


def rows(trial: Path) -> list[dict]:
    """The trial's result.json lines (a line cut off by a kill is skipped)."""
    path = trial / "result.json"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def trials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("train_*") if p.is_dir())


def by_mode(folder: Path) -> dict[str, list[dict]]:
    """Each trial's rows, keyed by its mode (the one thing that tells the smoke space's trials apart)."""
    out = {}
    for trial in trials(folder):
        lines = rows(trial)
        out[lines[0]["config"]["mode"]] = lines
    return out


def epochs(lines: list[dict]) -> list[int]:
    return [r["epoch"] for r in lines if "epoch" in r]


def restarts(lines: list[dict]) -> list[int]:
    """The epochs at which a (re)started worker reported first."""
    return [r["epoch"] for r in lines if "epoch" in r and r.get("iterations_since_restore") == 1]


def final(lines: list[dict]) -> dict:
    finals = [r for r in lines if "test_acc" in r]
    assert len(finals) == 1, finals
    return finals[0]


def same_results(lines: list[dict], clean: list[dict]) -> None:
    """Every epoch, with the clean run's validation losses, and the clean run's test metrics."""
    assert epochs(clean) == list(range(1, EPOCHS + 1)), epochs(clean)
    assert [r["epoch"] for r in last_per_epoch(lines)] == epochs(clean), epochs(lines)
    for got, want in zip(last_per_epoch(lines), [r for r in clean if "epoch" in r]):
        assert abs(got["val_loss"] - want["val_loss"]) <= 1e-6 * max(1.0, abs(want["val_loss"])), (got, want)
    for key in ("best_epoch", "test_acc", "test_bacc", "test_f1", "val_loss"):
        assert abs(final(lines)[key] - final(clean)[key]) <= 1e-6, (key, final(lines)[key], final(clean)[key])
