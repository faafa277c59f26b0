"""Rows g and h: what a whole run leaves on disk, and how much of its wall time is not training.

The bench runs the README's main job (`python -m study.run --space grid_paper` on the demo; with
--quick the two-trial `smoke` space on resnet18 instead) in a subprocess, into a fresh storage folder, with
its own fresh cache, and times it end to end. Then it reads the experiment folder:

g: bytes of every file under it (report included), against 300 MB; and whether an off-the-shelf
   trial's model.pt, which holds the head and where its frozen backbone comes from rather than a
   copy of it, loads as a whole model (study.trial.models.load_model) and as weights=PATH.
h: overhead = 1 - (the trials' own work) / (wall seconds x trial slots), where the slots are the
   trials Ray runs at once (one per CPU core: the runner's default) and a trial's own work is its
   epochs (`epoch_time_s`), its pass of the frozen backbone over the images the feature cache
   lacked (`features_time_s`: an off-the-shelf trial's training, done once instead of every epoch)
   and its test pass (`test_time_s`). Everything else is overhead: Ray's start, each trial's
   start-up (process, model, weights), checkpoints, reports, a trial waiting for features another
   computes, the report, the idle tail while the last trial runs alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from study.bench.rows import Row, ratio
from study.contract import CHECKPOINT_PREFIX, MODEL_FILE, PARAMS_FILE, REPORT_DIR, RESULT_FILE, STATE_FILE

MAIN_JOB = ("--space", "grid_paper")  # the README's first command
# quick: the smoke space's two trials (one per mode) on a real backbone, so that epochs cost something
QUICK_JOB = ("--space", "smoke", "--set", "model=resnet18", "image_size=64", "max_epochs=3", "patience=3")
TARGET_MB = 300.0
TARGET_OVERHEAD = 0.25


def run_job(args: tuple[str, ...], storage: Path, cache: Path) -> tuple[Path, float]:
    """(the experiment folder, wall seconds) of `python -m study.run ARGS` into `storage`."""
    env = {**os.environ, "ARTSTUDY_CACHE": str(cache), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "study.run", *args, "--storage", str(storage), "--name", "bench"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"python -m study.run {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return storage / "bench", wall


def folder_bytes(folder: Path) -> dict[str, int]:
    """Bytes under `folder`, by kind: model.pt files, epoch states, the report, everything else."""
    sizes = {MODEL_FILE: 0, STATE_FILE: 0, REPORT_DIR: 0, "other": 0}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        kind = path.name if path.name in sizes else REPORT_DIR if REPORT_DIR in path.relative_to(folder).parts else "other"
        sizes[kind] += path.stat().st_size
    return sizes


def trial_rows(folder: Path) -> list[list[dict]]:
    """Each trial's result.json rows."""
    trials = []
    for result in sorted(folder.glob(f"*/{RESULT_FILE}")):
        trials.append([json.loads(line) for line in result.read_text().splitlines() if line.strip()])
    return trials


def off_the_shelf_models(folder: Path) -> list[Path]:
    found = []
    for params in sorted(folder.glob(f"*/{PARAMS_FILE}")):
        if json.loads(params.read_text()).get("mode") == "off_the_shelf":
            found += sorted(params.parent.glob(f"{CHECKPOINT_PREFIX}*/{MODEL_FILE}"))
    return found


def reloads(model_file: Path) -> str:
    """'' when model_file loads as a whole model and as weights=PATH; else what failed."""
    from study.errors import StudyError
    from study.trial.models import get_model, load_model

    try:
        model = load_model(model_file)
        get_model(model.info.name, model.head.out_features, weights=str(model_file))
    except (StudyError, RuntimeError, OSError, KeyError) as err:  # the row says so: stopping would hide rows a-f
        return f"{type(err).__name__}: {err}"
    return ""


def row_g_from(sizes: dict[str, int], models: list[Path]) -> Row:
    total = sum(sizes.values()) / 2**20
    problem = reloads(models[0]) if models else "no off-the-shelf model.pt found"
    parts = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in sizes.items())
    check = f"an off-the-shelf model.pt ({models[0].stat().st_size / 2**10:.0f} KB) reloads whole" if not problem \
        else f"off-the-shelf model.pt does not reload: {problem}"
    return Row("g", "disk: the main job's experiment folder (MB)", total, TARGET_MB, at_most=True,
               condition=not problem, detail=f"MB by kind: {parts}; {check}")


def last_per_epoch(rows: list[dict]) -> list[dict]:
    """A trial's epoch rows as analysis reads them, in epoch order: a trial restarted from a checkpoint
    some epochs back (study/run/checkpoint_pace.py) reports those epochs again, and the last report counts."""
    last = {r["epoch"]: r for r in rows if "epoch" in r and "test_acc" not in r}
    return [last[epoch] for epoch in sorted(last)]


def row_h_from(trials: list[list[dict]], wall_s: float, slots: int) -> Row:
    """Overhead, split into what trials spend outside their own work (start-up, checkpoints, reports,
    waiting) and what no trial spends (Ray's start, scheduling, the report, the idle tail)."""
    epochs = sum(r.get("epoch_time_s", 0.0) for rows in trials for r in last_per_epoch(rows))
    finals = [r for rows in trials for r in rows if "test_acc" in r]
    features = sum(r.get("features_time_s") or 0.0 for r in finals)
    test = sum(r.get("test_time_s") or 0.0 for r in finals)
    work = epochs + features + test
    lifetimes = sum(max((r.get("time_total_s", 0.0) for r in rows), default=0.0) for rows in trials)
    slots = max(1, min(slots, len(trials)))
    overhead = 1 - ratio(work, wall_s * slots)
    return Row("h", "the main job: share of wall x slots not spent on the trials' own work", overhead, TARGET_OVERHEAD,
               at_most=True,
               detail=f"{len(trials)} trials, {slots} at a time, {wall_s:.0f} s wall ({wall_s * slots:.0f} slot-seconds): "
                      f"work {work:.0f} s = epochs {epochs:.0f} + feature extraction {features:.0f} + test {test:.0f} "
                      f"(epochs alone: overhead {1 - ratio(epochs, wall_s * slots):.2f}); "
                      f"{max(lifetimes - work, 0):.0f} s inside trials but not work (start-up, checkpoints, reports, "
                      f"waiting for features), {max(wall_s * slots - lifetimes, 0):.0f} slot-seconds outside any "
                      "trial (Ray's start, scheduling, the report, the idle tail)")


def rows_g_h(quick: bool = False, workdir: Path | None = None) -> list[Row]:
    from study.data.parallel import available_cpus

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder, wall = run_job(QUICK_JOB if quick else MAIN_JOB, Path(tmp) / "results", Path(tmp) / "cache")
        g = row_g_from(folder_bytes(folder), off_the_shelf_models(folder))
        h = row_h_from(trial_rows(folder), wall, available_cpus())
    job = " ".join(QUICK_JOB[:2] if quick else MAIN_JOB)
    return [Row(r.letter, r.what.replace("the main job", f"`{job}`") if quick else r.what, r.ratio, r.target,
                r.at_most, r.detail, r.condition) for r in (g, h)]
