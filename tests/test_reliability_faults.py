"""A fault under real Ray: a trial's worker SIGKILLed mid-epoch, at the default checkpoint pace.

It runs `python -m study.run --space smoke` on the small demo (tests/runs.py) and ends compared with a
clean run of the same seed beside it: every epoch once, the same validation losses and the same test
metrics. Ray does the recovery (FailureConfig retries a trial from its last checkpoint); this test
proves that what artstudy checkpoints is enough to continue exactly. A node lost mid-trial is
tests/test_reliability_lost_node.py, the driver killed mid-experiment tests/test_resume.py (each module
its own, so the test workers can run them side by side).
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from runs import EPOCHS, REPO, by_mode, restarts, rows, same_results, smoke_argv, trials

pytestmark = pytest.mark.reliability


EPOCH_LINE = re.compile(r": epoch (\d+) val_acc .*\(\d+ s(, checkpointed)?\)$", re.M)  # study/run/progress.py


def a_skipped_checkpoint(log: str) -> int | None:
    """The last epoch the run printed, if it was not checkpointed and an earlier one was (a kill now loses
    epochs); else None. Read from the driver's progress lines, which it prints as each result arrives:
    the trial folder's result.json is Ray's copy, synced in bursts (at checkpoints, on its own snapshot
    schedule), and on a loaded machine it skipped the unsaved epochs' window entirely. (Killing after a
    fixed epoch count was flaky too: the first epoch seen could be one the pace had just checkpointed.)"""
    saved = [(int(epoch), bool(mark)) for epoch, mark in EPOCH_LINE.findall(log)]
    if len(saved) >= 2 and saved[0][1] and not saved[-1][1]:
        return saved[-1][0]
    return None


def run_and_kill_a_worker(argv: list[str], folder: Path, log_path: Path, *, poll: float) -> dict:
    """Run `argv` (one trial); SIGKILL its worker once `a_skipped_checkpoint`, checking every `poll` seconds.
    What was killed; the run must end well."""
    log = open(log_path, "w")
    run = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    killed = {}
    try:
        deadline = time.monotonic() + 240
        while not killed and run.poll() is None and time.monotonic() < deadline:
            after = a_skipped_checkpoint(log_path.read_text())
            pids = {r["pid"] for trial in trials(folder) for r in rows(trial)}  # the checkpointed epoch's row
            if after is not None and len(pids) == 1:
                pid = pids.pop()
                os.kill(pid, signal.SIGKILL)  # the trial's worker, mid-epoch
                killed = {"trial": trials(folder)[0], "pid": pid, "after": after}
            time.sleep(poll)
        run.wait(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        log.close()
    output = log_path.read_text()
    assert killed, "no trial was running to be killed:\n" + output[-3000:]
    assert run.returncode == 0, output[-3000:]
    return killed


# One fine-tuning resnet18 trial (random init) at 32 px: epochs of a second or two, long enough to be caught
# running at a 0.05 s poll, and a checkpoint (weights and optimiser state, ~90 MB) costly enough next to
# them that the default pace skips some: the kill then loses epochs that the retry replays. (A kill at
# --checkpoint-share 1, every epoch saved, was a second test; this one covers it: the retry starts from
# the last checkpoint either way, and here that checkpoint is also behind the last epoch reported.)
PACED = [f"max_epochs={EPOCHS}", f"patience={EPOCHS}", "batch_size=8", "image_size=32", "mode=fine_tune",
         "model=resnet18"]


def test_a_worker_killed_at_the_default_pace_replays_its_epochs_and_ends_as_a_clean_run(demo_root, tmp_path):
    # The clean twin runs beside the killed one, in its own process and Ray (one trial each, one core each):
    # the kill waits for the pace's own decision, not for a time, so the shared machine does not change it.
    with open(tmp_path / "clean.log", "w") as clean_log:
        clean_run = subprocess.Popen(smoke_argv(demo_root, tmp_path, "clean", sets=PACED, share=None), cwd=REPO,
                                     stdout=clean_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            folder = tmp_path / "k"
            killed = run_and_kill_a_worker(smoke_argv(demo_root, tmp_path, "k", sets=PACED, share=None), folder,
                                           tmp_path / "run.log", poll=0.05)
            assert clean_run.wait(timeout=300) == 0, (tmp_path / "clean.log").read_text()[-3000:]
        finally:
            if clean_run.poll() is None:
                os.killpg(clean_run.pid, signal.SIGKILL)
                clean_run.wait(timeout=30)
    clean = tmp_path / "clean"
    assert not (clean / "report").exists() and (clean / "study.json").is_file()  # --no-report (tests/runs.py)
    lines = rows(killed["trial"])
    first, again = restarts(lines)
    # Retried from its last checkpoint, which the pace left before the last epoch reported.
    saved = [r["epoch"] for r in lines if "epoch" in r and r.get("checkpoint_dir_name") and r["pid"] == killed["pid"]]
    assert first == 1 and saved and again <= killed["after"] + 1, (restarts(lines), saved)
    assert again == saved[-1] + 1 <= killed["after"], (again, saved, killed["after"])  # epochs replayed
    later = {r["pid"] for r in lines if r.get("epoch", EPOCHS + 1) > killed["after"]}
    assert later and killed["pid"] not in later  # the epochs after the kill, by a new worker
    retried, clean_lines = by_mode(folder), by_mode(clean)
    assert sorted(retried) == sorted(clean_lines) == ["fine_tune"]
    same_results(retried["fine_tune"], clean_lines["fine_tune"])
    study = json.loads((folder / "study.json").read_text())
    assert study["trials"] == {**study["trials"], "final": 1, "errored": 0}
