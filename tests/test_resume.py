"""`--resume` after the driver dies: finished trials are not rerun, the interrupted one continues
from its last epoch checkpoint, every trial ends with exactly one final report, and the results
are those of a run never interrupted.

The first run is killed (SIGKILL to its process group: driver and the Ray it started) once the
first trial has finished and the second has reported two epochs; the experiment state on disk
is then what a crash leaves, and `python -m study.run ... --resume` restores it with Tuner.restore.
"""

import json
import os
import signal
import subprocess
import time

import pytest
from runs import EPOCHS, by_mode, final, rows, same_results, smoke_argv, trials

@pytest.fixture(scope="module")
def interrupted_then_resumed(demo_root, tmp_path_factory):
    storage = tmp_path_factory.mktemp("resume")
    folder = storage / "r"
    argv = smoke_argv(demo_root, storage, "r", "--max-concurrent", "1")
    # The kill lands right after a checkpoint is registered (the moment result.json shows the epoch):
    # the window in which Ray has rotated the old checkpoint away but not yet snapshotted the state.
    env = dict(os.environ)
    log = open(storage / "first.log", "w")
    first = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 150
    seen = {}
    try:
        while time.monotonic() < deadline and first.poll() is None:
            found = trials(folder)
            done = [t for t in found if any("test_acc" in r for r in rows(t))]
            running = [t for t in found if t not in done and sum("epoch" in r for r in rows(t)) >= 2]
            if done and running:
                seen = {"done": done[0], "done_rows": len(rows(done[0])), "running": running[0]}
                break
            time.sleep(0.05)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)  # the driver and the Ray it started; its workers follow
        first.wait(timeout=30)
        log.close()
    assert seen, "the first run ended before it could be interrupted:\n" + (storage / "first.log").read_text()[-3000:]
    seen["running_epochs_before"] = [r["epoch"] for r in rows(seen["running"]) if "epoch" in r]
    time.sleep(1)  # let the killed workers go before the next run starts its own Ray
    second = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=240, env=dict(os.environ))
    return folder, seen, second


@pytest.mark.reliability
def test_resume_finishes_every_trial_exactly_once(interrupted_then_resumed):
    folder, seen, second = interrupted_then_resumed
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming" in second.stdout
    found = trials(folder)
    assert len(found) == 2
    for trial in found:
        finals = [r for r in rows(trial) if "test_acc" in r]
        assert len(finals) == 1, (trial.name, finals)
        assert {r["node_ip"] for r in rows(trial)} == {"127.0.0.1"}  # the CLI's own Ray: loopback only
    assert len(rows(seen["done"])) == seen["done_rows"]  # the finished trial was not rerun
    study = json.loads((folder / "study.json").read_text())
    assert study["resumed"] and study["trials"]["final"] == 2


@pytest.mark.reliability
def test_the_interrupted_trial_continues_from_its_checkpoint(interrupted_then_resumed):
    folder, seen, _ = interrupted_then_resumed
    lines = [r for r in rows(seen["running"]) if "epoch" in r]
    restarts = [i for i, r in enumerate(lines) if r.get("iterations_since_restore") == 1]
    assert len(restarts) == 2, lines  # the first session and the resumed one
    resumed_at = lines[restarts[1]]["epoch"]
    assert resumed_at > 1  # not from scratch
    assert resumed_at <= max(seen["running_epochs_before"]) + 1
    assert lines[-1]["epoch"] == EPOCHS


@pytest.mark.reliability
def test_the_resumed_experiment_equals_a_clean_run(interrupted_then_resumed, clean_smoke_run):
    folder, _, second = interrupted_then_resumed
    assert second.returncode == 0
    resumed, clean = by_mode(folder), by_mode(clean_smoke_run)
    assert sorted(resumed) == sorted(clean) == ["fine_tune", "off_the_shelf"]  # the same set of trials
    for mode in clean:
        same_results(resumed[mode], clean[mode])
        assert final(resumed[mode])["num_classes"] == final(clean[mode])["num_classes"]
