"""Fine-tuning pace: a trial under Ray Tune against a bare loop (row b); the image cache against RAM (row d).

Row b: the same fine-tuning trial (model, images, batch, seed, torch threads) run by
`study.run.trainable.train` inside a one-trial Ray Tune experiment that the runner's own Tuner
builds (study.run.tuner.make_tuner, with the runner's default checkpoint pace,
study/run/checkpoint_pace.py), and by a bare PyTorch loop over the same uint8
pixels held in memory. Each side runs twice, in the order bare, Tune, Tune, bare (`abba`), and each
side's faster run counts: a machine growing busier or quieter during the row favours neither side,
and a burst of load from another job slows one run of a side, not its result. (Until 2026-12-05 the
bare loop ran twice around one Tune trial: the faster of two noisy runs against a single one, a
bias against Tune as large as the machine's noise, +-5-10% per epoch here.) Both count an epoch as training plus validation; the
Tune side's epoch is Ray's own `time_this_iter_s` (so it also pays the report and the epoch
checkpoint), epoch 1 left out on both sides (first-call allocations; Tune's also holds the
trial's start-up, which row h measures).

Row d: `engine.train_one_epoch` over the trial's own loader (study.trial.transforms.make_loader on
the memory-mapped image cache, the trial's default workers) against the same batches from a
tensor already in memory; epochs alternate between the two (ABBA: on this machine whichever of a
pair runs first runs slower) and the fastest epoch of each counts, so a burst of load hits both alike.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from study.bench.rows import Row, ratio
from study.config import resolve_config
from study.contract import RESULT_FILE
from study.data import load_images, prepare_task, read_collection, write_demo
from study.data.images import CachedRows
from study.trial import engine, models
from study.trial.transforms import ArrayDataset, ToInput, epoch_batches, epoch_generator, make_loader

TARGET_B = 0.9
TARGET_D = 0.9
T = TypeVar("T")


def _demo_trial(tmp: Path, images: int, model: str, size: int, epochs: int, batch: int) -> tuple[dict, object]:
    root = write_demo(tmp / "demo", images=images, seed=0)
    config = {"collection": "demo", "data_root": str(root), "task": "material", "model": model, "mode": "fine_tune",
              "weights": "none", "max_epochs": epochs, "patience": epochs, "image_size": size, "batch_size": batch,
              "cache_dir": str(tmp / "cache")}
    return config, read_collection("demo", root)


def _task_pixels(config: dict, collection) -> tuple[np.ndarray | CachedRows, np.ndarray, dict[str, np.ndarray], int]:
    """The trial's pixels (memory-mapped from the warm cache), labels, split rows and class count."""
    cfg = resolve_config(config)
    task = prepare_task(collection, cfg.task, split=cfg.split_fractions, split_seed=cfg.split_seed,
                        cache_dir=cfg.cache_dir)
    frame = task.frame.reset_index(drop=True)
    pixels = load_images(collection, frame, cfg.image_size, cache_dir=cfg.cache_dir, lazy=True)  # as a trial reads it
    rows = {s: np.flatnonzero(frame["split"].to_numpy() == s) for s in ("train", "val")}
    return pixels, frame["y"].to_numpy(), rows, len(task.classes)


def bare_loop(config: dict, collection) -> list[float]:
    """Training images/s of each epoch (train + val) of a plain loop: no Ray, no checkpoints, no loader."""
    cfg = resolve_config(config)
    pixels, labels, rows, k = _task_pixels(config, collection)
    x_all, y_all = torch.from_numpy(np.array(pixels)), torch.from_numpy(labels.astype(np.int64))
    device = engine.default_device()
    engine.seed_everything(cfg.seed)
    model = engine.place(models.get_model(cfg.model, k, weights="none"), device)
    models.set_mode(model, "fine_tune")
    prepare = ToInput(model.info.mean, model.info.std)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True)
    paces = []
    for epoch in range(1, cfg.max_epochs + 1):
        start = time.perf_counter()
        model.train()
        for b in epoch_batches(len(rows["train"]), cfg.batch_size, epoch_generator(cfg.seed, epoch)):
            idx = torch.from_numpy(rows["train"][b.numpy()])
            with engine.autocast(device):
                loss = F.cross_entropy(model(engine.to_device(x_all[idx], device, prepare)).float(),
                                       y_all[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad(), engine.autocast(device):
            for b in epoch_batches(len(rows["val"]), 64):
                model(engine.to_device(x_all[torch.from_numpy(rows["val"][b.numpy()])], device, prepare))
        loss.item()  # waits for the device
        paces.append(len(rows["train"]) / (time.perf_counter() - start))
    return paces


def under_tune(config: dict, collection, threads: int, storage: Path) -> tuple[list[float], list[float], list[int]]:
    """Training images/s of each epoch of the same trial run as the runner runs it (its trainable, its
    Tuner: study.run.tuner.make_tuner): between two reports, and within the epoch alone; and the epochs
    it checkpointed."""
    from study.run.cluster import prepare_environment

    prepare_environment(None)  # a local Ray on 127.0.0.1 only
    import ray

    from search_spaces import Space, Stage
    from study.run.tuner import make_trainable, make_tuner

    gpus = 1 if torch.cuda.is_available() else 0
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=threads, num_gpus=gpus, include_dashboard=False, log_to_driver=False)
    try:
        space = Space(name="bench", question="How fast does one trial train under Ray Tune?", scientific={})
        tuner = make_tuner(space, Stage("", base=dict(config), grid={}), make_trainable(collection, threads, gpus),
                           str(storage), str(storage / "bench"))
        with contextlib.redirect_stdout(sys.stderr):  # the runner's progress lines; stdout is the bench's table
            result = tuner.fit()[0]
    finally:
        if started:
            ray.shutdown()
    if result.error is not None:
        raise RuntimeError(f"the Tune trial failed: {result.error}")
    epochs = [json.loads(line) for line in (Path(result.path) / RESULT_FILE).read_text().splitlines()]
    n_train = next(r["n_train"] for r in epochs if "n_train" in r)
    rows = [r for r in epochs if "epoch" in r and "test_acc" not in r]
    checkpointed = [r["epoch"] for r in rows if r.get("checkpoint_dir_name")]
    # Ray's time between reports, and the trial's own epoch time (which leaves out report and checkpoint)
    return [n_train / r["time_this_iter_s"] for r in rows], [n_train / r["epoch_time_s"] for r in rows], checkpointed


def row_b(quick: bool = False, model: str = "resnet18", size: int = 64, threads: int | None = None,
          workdir: Path | None = None) -> Row:
    threads = threads or torch.get_num_threads()
    # full: epochs of ~6 s, nearer a real collection's; 5, so that the epochs counted (2-5) include one the
    # checkpoint pace writes (at this epoch length about one in three: the detail lists them)
    images, epochs = (300, 3) if quick else (1200, 5)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        config, collection = _demo_trial(Path(tmp), images, model, size, epochs, 32)
        _task_pixels(config, collection)  # warm the image cache before either side is timed
        paces = both_sides(config, collection, threads, Path(tmp))
    what = f"{model} fine_tune {size} px, {threads} thread(s), Tune checkpointed epochs {paces.checkpointed}"
    return row_b_from(paces.bare, paces.tuned, what, paces.inside)


class Paces(NamedTuple):
    bare: list[list[float]]  # per run, per epoch: training images/s of the bare loop
    tuned: list[list[float]]  # the same under Tune, between two reports
    inside: list[list[float]]  # under Tune, within the epoch alone
    checkpointed: list[list[int]]  # per Tune run, the epochs it checkpointed


def both_sides(config: dict, collection, threads: int, tmp: Path) -> Paces:
    """The trial run by the bare loop and under Tune, twice each (`abba`), with `threads` torch threads,
    as the trainable sets them for a trial of `threads` CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        bare, runs = abba(lambda: bare_loop(config, collection),  # each Tune run its own experiment folder:
                          lambda: under_tune(config, collection, threads, Path(tempfile.mkdtemp(dir=tmp))))
    finally:
        torch.set_num_threads(before)
    tuned, inside, checkpointed = (list(side) for side in zip(*runs))
    return Paces(bare, tuned, inside, checkpointed)


def abba(bare: Callable[[], list[float]], tuned: Callable[[], T]) -> tuple[list[list[float]], list[T]]:
    """Both sides twice, in the order bare, Tune, Tune, bare: a drift in the machine's load then weighs
    on both sides alike, and each side keeps two runs to take the faster of."""
    first = bare()
    tuned_runs = [tuned(), tuned()]
    return [first, bare()], tuned_runs


def pace(per_epoch: list[float]) -> float:
    """Images/s over epochs 2+ together (epoch 1 pays first-call costs): the harmonic mean, so an epoch
    that also wrote a checkpoint weighs in with its whole time."""
    counted = per_epoch[1:] or per_epoch
    return len(counted) / sum(1 / p for p in counted)


def fastest(runs: list[list[float]]) -> float:
    """The pace of a side's least disturbed run."""
    return max(pace(run) for run in runs)


def row_b_from(bare: list[list[float]], tuned: list[list[float]], what: str,
               inside: list[list[float]] | None = None) -> Row:
    """Tune's pace over the bare loop's, each side its faster run (see `abba`)."""
    b, t = fastest(bare), fastest(tuned)
    return Row("b", "fine-tune images/s: under Ray Tune / bare PyTorch loop", ratio(t, b), TARGET_B,
               detail=f"{what}: {t:.0f} vs {b:.0f} img/s over epochs 2-{len(tuned[0])}, the faster of two runs each"
                      + (f"; {fastest(inside):.0f} img/s inside the trial's epochs (no report, no checkpoint)"
                         if inside else ""))


def row_d(quick: bool = False, model: str = "resnet18", size: int = 64, workdir: Path | None = None) -> Row:
    images, rounds = (200, 4) if quick else (600, 6)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        config, collection = _demo_trial(Path(tmp), images, model, size, 1, 32)
        cfg = resolve_config(config)
        pixels, labels, rows, k = _task_pixels(config, collection)
        in_memory = torch.from_numpy(np.array(pixels))
        device = engine.default_device()
        engine.seed_everything(0)
        net = engine.place(models.get_model(model, k, weights="none"), device)
        models.set_mode(net, "fine_tune")
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
        prepare = ToInput(net.info.mean, net.info.std)
        seconds: dict[str, list[float]] = {"cache": [], "memory": []}
        for epoch in range(rounds + 1):  # round 0 warms both up and is not counted
            batches = [torch.from_numpy(rows["train"][b.numpy()])
                       for b in epoch_batches(len(rows["train"]), cfg.batch_size, epoch_generator(0, epoch))]
            pair = [("cache", pixels), ("memory", in_memory)]
            for name, source in pair if epoch % 2 else pair[::-1]:  # ABBA: whichever runs first runs slower
                loader = make_loader(ArrayDataset(source, labels), batches, cfg.num_workers,
                                     pin_memory=device.type == "cuda")
                fit = engine.train_one_epoch(net, loader, opt, device, prepare)
                if epoch:
                    seconds[name].append(fit["seconds"])
    return row_d_from(seconds["cache"], seconds["memory"], len(rows["train"]),
                      f"{model} fine_tune {size} px, {cfg.num_workers} loader workers")


def row_d_from(cache_s: list[float], memory_s: list[float], images: int, what: str) -> Row:
    c, m = min(cache_s), min(memory_s)  # the least disturbed epoch of each
    return Row("d", "fine-tune epoch: image cache / tensors in memory (pace)", ratio(m, c), TARGET_D,
               detail=f"{what}: {images / c:.0f} vs {images / m:.0f} img/s ({len(cache_s)} epochs each, alternating)")

