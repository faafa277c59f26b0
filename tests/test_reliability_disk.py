"""The disk: files written whole or not at all, caches that do not match their key rebuilt, a full disk
said in one line with every earlier result left as it was.

A full disk is real where this process may mount a small tmpfs (root, as in CI's container), and
simulated everywhere by making the flush before the rename fail with ENOSPC, which is where a
delayed-allocation or network filesystem reports it.
"""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from study import atomic
from study.data import load_images, prepare_task, read_collection
from study.trial.features import FeatureStore

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp" in p.name or p.is_dir()]


@pytest.fixture
def disk_fills_after(monkeypatch):
    """fill(n): the n+1-th atomic write onwards fails as on a full disk."""
    def fill(n: int) -> None:
        calls = {"n": 0}
        real = atomic._sync

        def sync(path):
            calls["n"] += 1
            if calls["n"] > n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real(path)

        monkeypatch.setattr(atomic, "_sync", sync)
    return fill


# what mount(8) says when the system refuses this process a mount (util-linux and busybox wordings)
REFUSED = re.compile(r"must be superuser|only root|permission denied|not permitted", re.IGNORECASE)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs, unmounted after; skipped (with the reason in the run's -ra summary) only where the
    system refuses this process a mount (not root, no CAP_SYS_ADMIN); any other failure fails the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    message = done.stderr.decode().strip()
    if done.returncode != 0 and REFUSED.search(message):
        pytest.skip(f"mounting a tmpfs is refused here ({message}); the simulated full disk still runs")
    assert done.returncode == 0, f"mount -t tmpfs failed, not refused: {message}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(folder: Path) -> None:
    try:
        with open(folder / "ballast", "wb") as f:
            while True:
                f.write(b"\0" * (1 << 16))
    except OSError as error:
        assert error.errno == errno.ENOSPC


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert lines[-1].startswith("error: ") and "no space left" in lines[-1], lines
    return lines[-1]


# ---------------------------------------------------------------- whole or not at all

def test_a_killed_writer_leaves_the_old_file_or_the_new_one(tmp_path):
    target = tmp_path / "cache.bin"
    atomic.write_bytes(target, b"old")
    script = (f"from study import atomic\n"
              f"atomic.write_bytes({str(target)!r}, b'n' * 400_000_000)\n")
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".cache.bin.*")) and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert writer.poll() is None, "the writer ended before it could be killed"
        os.kill(writer.pid, signal.SIGKILL)  # mid-write: the temporary file is there, half full
    finally:
        writer.wait(timeout=30)
    assert target.read_bytes() == b"old"  # never a truncated file under the real name


def test_a_failed_write_keeps_the_previous_file(tmp_path, disk_fills_after):
    target = tmp_path / "study.json"
    atomic.write_text(target, '{"trials": 3}')
    disk_fills_after(0)
    with pytest.raises(atomic.DiskFullError, match="no space left on the disk holding") as error:
        atomic.write_text(target, '{"trials": 4}')
    assert "\n" not in str(error.value) and str(error.value).startswith("no space left")
    assert target.read_text() == '{"trials": 3}'
    assert leftovers(tmp_path) == []


def test_report_on_a_full_disk_is_one_line_and_keeps_the_earlier_report(tmp_path, disk_fills_after, capsys):
    from analysis.report import main
    from fake_experiment import paper_grid

    folder = paper_grid(tmp_path / "exp")
    assert main([str(folder)]) == 0
    before = snapshot(folder / "report")
    capsys.readouterr()
    disk_fills_after(5)  # a few files rewritten, then the disk is full
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write the report: no space left"), err
    assert snapshot(folder / "report") == before
    assert leftovers(folder / "report") == []


def test_commands_on_a_really_full_disk(small_disk, tmp_path, real_experiment):
    env = {**os.environ, "ARTSTUDY_CACHE": str(tmp_path / "cache")}

    def run(*argv):
        return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300,
                              env=env, cwd=REPO)

    # earlier results on that disk: a demo, a report, and a whole experiment
    assert run("study.data", "demo", "--out", str(small_disk / "demo"), "--images", "20").returncode == 0
    experiment = small_disk / "results" / real_experiment.name
    shutil.copytree(real_experiment, experiment)
    before = {p: snapshot(p) for p in (small_disk / "demo", experiment)}
    fill_up(small_disk)

    one_error_line(run("study.data", "demo", "--out", str(small_disk / "demo"), "--images", "30"))
    done = run("analysis.report", str(experiment))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no space left" in done.stderr, done.stderr
    demo_root = json.loads((experiment / "study.json").read_text())["options"]["data"]
    one_error_line(run("study.run", "--space", "smoke", "--data", demo_root, "--collection", "demo",
                       "--storage", str(small_disk / "results"), "--name", experiment.name, "--resume"))

    assert {p: snapshot(p) for p in before} == before  # byte for byte
    assert not [p for p in small_disk.iterdir() if p.name.startswith(".")]  # no half demo left
    assert leftovers(experiment) == []


# ---------------------------------------------------------------- caches that do not match their key

def test_an_image_cache_that_does_not_match_its_key_is_rebuilt(demo_root, tmp_path):
    collection = read_collection("demo", demo_root)
    frame = prepare_task(collection, "type", cache_dir=tmp_path).frame
    first = np.array(load_images(collection, frame, size=16, cache_dir=tmp_path))
    folder = next(p for p in (tmp_path / "images").iterdir() if p.is_dir())

    (folder / "pixels.npy").write_bytes((folder / "pixels.npy").read_bytes()[:5000])  # cut by a crash
    assert np.array_equal(load_images(collection, frame, size=16, cache_dir=tmp_path), first)

    index = json.loads((folder / "index.json").read_text())
    (folder / "index.json").write_text(json.dumps({**index, "collection": "another-collection"}))
    np.save(folder / "pixels.npy", np.zeros_like(np.load(folder / "pixels.npy")))  # its pixels, not ours
    assert np.array_equal(load_images(collection, frame, size=16, cache_dir=tmp_path), first)
    assert json.loads((folder / "index.json").read_text())["collection"] == collection.key


def test_a_feature_shard_that_does_not_match_its_key_is_computed_again(tmp_path):
    key = {"model": "tiny_cnn", "weights": "abc", "size": 16, "mean": [0.5], "std": [0.5], "collection": "k"}
    ids = [f"img{i}" for i in range(6)]
    truth = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)

    def compute(positions):
        compute.calls += 1
        return truth[positions]

    compute.calls = 0
    store = FeatureStore(tmp_path, key)
    rows, status = store.get_or_compute(ids, compute)
    assert status == "miss" and np.array_equal(rows, truth)

    shard = next(store.root.glob("*.npy"))
    shard.write_bytes(shard.read_bytes()[:100])  # damaged
    rows, status = store.get_or_compute(ids, compute)
    assert status == "miss" and np.array_equal(rows, truth) and compute.calls == 2

    np.save(shard, np.full((6, 4), 7, np.float32))  # another key's features under this folder
    (store.root / "meta.json").write_text(json.dumps({**key, "weights": "other"}))
    rows, status = store.get_or_compute(ids, compute)
    assert status == "miss" and np.array_equal(rows, truth) and compute.calls == 3
    assert store.get_or_compute(ids, compute)[1] == "hit"
