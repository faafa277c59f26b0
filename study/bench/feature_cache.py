"""Row a: an off-the-shelf trial with the feature cache against the same trial running its frozen backbone every epoch.

One trial computes the frozen backbone's features once and trains the head on them; the other
(feature_cache=false, the 2020 reproduction's way) runs the frozen backbone every epoch. Both read
the same warm image cache, run exactly `epochs` epochs (patience = epochs) from the same seed, and
so should reach the same accuracy; the target is a speed-up of at least 10x, counting the trial
that fills the cache itself. `backbone_speeds` (`python -m study.bench --backbones`) adds the
images/s of each paper backbone.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from study.trial import engine, models
from study.data import load_images, prepare_task, read_collection, write_demo
from study.bench.rows import Row, ratio
from study.trial.run_trial import run_trial

PAPER_BACKBONES = ("alexnet", "vgg19", "inception_v3", "xception", "resnet50")
TARGET_SPEEDUP = 10.0
ACCURACY_NOISE = 0.01  # "same accuracy": both trials see the same batches in the same order; only float sums differ


def feature_cache_speedup(model: str = "resnet18", size: int = 64, images: int = 1200, epochs: int = 25,
                          task: str = "material", workdir: Path | None = None) -> dict:
    models.input_size(model, size)  # an unknown model or a size it cannot take: say so before any work
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = write_demo(Path(tmp) / "demo", images=images, seed=0)
        collection = read_collection("demo", root)
        cache = Path(tmp) / "cache"
        base = {"collection": "demo", "data_root": str(root), "task": task, "model": model, "mode": "off_the_shelf",
                "weights": "imagenet", "max_epochs": epochs, "patience": epochs, "image_size": size,
                "cache_dir": str(cache)}
        frame = prepare_task(collection, task, cache_dir=cache).frame
        load_images(collection, frame, size, cache_dir=cache)  # both trials then read the same warm pixels

        def timed(**over) -> tuple[float, dict]:
            start = time.perf_counter()
            final = run_trial({**base, **over}, collection=collection)
            return time.perf_counter() - start, final

        cold_s, cold = timed()  # miss: computes every image's features once
        warm_s, warm = timed()  # hit: another trial on the same images
        off_s, off = timed(feature_cache=False)
    return {
        "what": "feature cache", "model": model, "image_size": size, "images": len(frame), "epochs": epochs,
        "weights_used": cold["weights_used"],
        "feature_cache": [cold["feature_cache"], warm["feature_cache"], off["feature_cache"]],
        "uncached_s": round(off_s, 2), "cached_cold_s": round(cold_s, 2), "cached_warm_s": round(warm_s, 2),
        "speedup_cold": round(off_s / cold_s, 1), "speedup_warm": round(off_s / warm_s, 1),
        "test_acc_cached": cold["test_acc"], "test_acc_uncached": off["test_acc"],
        "test_acc_diff": abs(cold["test_acc"] - off["test_acc"]),
        "val_loss_rel_diff": abs(cold["val_loss"] - off["val_loss"]) / max(abs(off["val_loss"]), 1e-12),
        "target_met": off_s / cold_s >= TARGET_SPEEDUP,
    }


def backbone_speeds(size: int = 75, batch: int = 32, n_train: int = 960, n_val: int = 120,
                    names: tuple[str, ...] = PAPER_BACKBONES) -> list[dict]:
    """Images/s of each backbone (random init, random inputs), and what a demo epoch would take.

    fine_tune epoch = n_train images forward+backward + n_val forward; an off-the-shelf trial with
    the feature cache pays one forward pass over all images, then next to nothing per epoch.
    """
    device = engine.default_device()
    rows = []
    for name in names:
        model = engine.place(models.get_model(name, 10), device)
        x = torch.randn(batch, 3, size, size, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def train_step() -> None:
            model.train()
            with engine.autocast(device):  # as a trial runs: bf16 and channels_last on a GPU
                loss = torch.nn.functional.cross_entropy(model(engine.to_device(x, device, None)).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        def eval_step() -> None:
            model.eval()
            with torch.no_grad(), engine.autocast(device):
                model(engine.to_device(x, device, None))

        speeds = {}
        for label, step in (("train", train_step), ("eval", eval_step)):
            step()  # warm-up: first-call allocations and kernel choices
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, steps = time.perf_counter(), 0
            while steps < 2 or time.perf_counter() - start < 1.0:
                step()
                steps += 1
            if device.type == "cuda":
                torch.cuda.synchronize()  # the queued kernels are part of the time
            speeds[label] = batch * steps / (time.perf_counter() - start)
        rows.append({
            "model": name, "image_size": size, "threads": torch.get_num_threads(),
            "train_images_per_s": round(speeds["train"], 1), "eval_images_per_s": round(speeds["eval"], 1),
            "fine_tune_epoch_s": round(n_train / speeds["train"] + n_val / speeds["eval"], 1),
            "off_the_shelf_features_s": round((n_train + 2 * n_val) / speeds["eval"], 1),
        })
    return rows


def row_a(quick: bool = False, model: str = "resnet18", size: int = 64, workdir: Path | None = None) -> Row:
    return row_a_from(feature_cache_speedup(model=model, size=size, images=300 if quick else 1200, workdir=workdir))


def row_a_from(r: dict) -> Row:
    """Speed-up with the cache filled by the trial itself (the cold case: what a study's first trial pays)."""
    same = r["test_acc_diff"] <= ACCURACY_NOISE
    return Row("a", f"off-the-shelf {r['epochs']}-epoch trial: feature cache vs backbone every epoch (speed-up)",
               ratio(r["uncached_s"], r["cached_cold_s"]), TARGET_SPEEDUP, condition=same,
               detail=f"{r['model']} at {r['image_size']} px, {r['images']} images: {r['uncached_s']} s without, "
                      f"{r['cached_cold_s']} s with ({r['speedup_warm']}x once filled); test acc "
                      f"{r['test_acc_cached']:.3f} vs {r['test_acc_uncached']:.3f}")


def print_backbones(rows: list[dict]) -> None:
    print("paper backbones (random init; a demo epoch = 960 train + 120 val images):")
    for r in rows:
        print(f"  {r['model']:14s} {r['image_size']} px, {r['threads']} thread(s): train {r['train_images_per_s']:7.1f} "
              f"img/s, eval {r['eval_images_per_s']:7.1f} img/s; demo fine_tune epoch ~{r['fine_tune_epoch_s']} s, "
              f"off-the-shelf features ~{r['off_the_shelf_features_s']} s once")
