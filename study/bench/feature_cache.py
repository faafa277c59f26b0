"""Performance ratios between two runs of the same moment, on this machine; never absolute pass/fail times.

    python -m study.bench              # feature cache: 25-epoch off-the-shelf resnet18 trial, 1200 images at 64 px
    python -m study.bench --quick      # the same on a 300-image demo (~1 min on 2 cores)
    python -m study.bench --model resnet50 --size 96   # a paper backbone (~15 min on 2 cores)
    python -m study.bench --json       # one JSON object instead of lines
    python -m study.bench --backbones  # also: images/s and demo epoch seconds of each paper backbone

Feature cache: one trial computes the frozen backbone's features once and trains the head on them;
the other (feature_cache=false) runs the frozen backbone every epoch. Both read the same warm image
cache, run exactly `epochs` epochs (patience = epochs) from the same seed, and so should reach the
same accuracy; the target is a speed-up of at least 10x. The data layer's measurements
(study/bench/data.py: metadata reading, image cache vs JPEG decoding) are added when it has them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from study.trial import engine, models
from study.data import load_images, prepare_task, read_collection, write_demo
from study.errors import StudyError, exit_on_error
from study.trial.run_trial import run_trial

PAPER_BACKBONES = ("alexnet", "vgg19", "inception_v3", "xception", "resnet50")
TARGET_SPEEDUP = 10.0


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
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        def eval_step() -> None:
            model.eval()
            with torch.no_grad():
                model(x)

        speeds = {}
        for label, step in (("train", train_step), ("eval", eval_step)):
            step()  # warm-up: first-call allocations and kernel choices
            start, steps = time.perf_counter(), 0
            while steps < 2 or time.perf_counter() - start < 1.0:
                step()
                steps += 1
            speeds[label] = batch * steps / (time.perf_counter() - start)
        rows.append({
            "model": name, "image_size": size, "threads": torch.get_num_threads(),
            "train_images_per_s": round(speeds["train"], 1), "eval_images_per_s": round(speeds["eval"], 1),
            "fine_tune_epoch_s": round(n_train / speeds["train"] + n_val / speeds["eval"], 1),
            "off_the_shelf_features_s": round((n_train + 2 * n_val) / speeds["eval"], 1),
        })
    return rows


def data_benchmarks(quick: bool) -> list[dict]:
    """The data layer's measurements, where study/bench/data.py provides them."""
    try:
        from study.bench import data as data_bench
    except ImportError:
        return []
    results = []
    for name in getattr(data_bench, "BENCHMARKS", ()):
        results.append(getattr(data_bench, name)(quick=quick))
    return results


def _print(result: dict) -> None:
    if result.get("what") == "feature cache":
        r = result
        print(f"feature cache, {r['model']} off the shelf at {r['image_size']} px, {r['images']} images, "
              f"{r['epochs']} epochs (weights: {r['weights_used']}):")
        print(f"  speed-up {r['speedup_cold']}x with the cache filled by the trial itself "
              f"({r['uncached_s']} s without, {r['cached_cold_s']} s with), {r['speedup_warm']}x when already filled "
              f"({r['cached_warm_s']} s); target >= {TARGET_SPEEDUP:g}x: {'met' if r['target_met'] else 'NOT met'}")
        print(f"  test accuracy {r['test_acc_cached']:.4f} cached vs {r['test_acc_uncached']:.4f} uncached "
              f"(best val loss differs by {r['val_loss_rel_diff']:.1e}, relative)")
    elif "fine_tune_epoch_s" in result:
        r = result
        print(f"  {r['model']:14s} {r['image_size']} px, {r['threads']} thread(s): train {r['train_images_per_s']:7.1f} img/s, "
              f"eval {r['eval_images_per_s']:7.1f} img/s; demo fine_tune epoch ~{r['fine_tune_epoch_s']} s, "
              f"off-the-shelf features ~{r['off_the_shelf_features_s']} s once")
    else:  # the data layer's results: their own keys
        what = result.get("what", "data")
        print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in result.items() if k != "what"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 images instead of 1200")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--backbones", action="store_true", help="also time each paper backbone at --size")
    parser.add_argument("--model", default=None, help="backbone for the feature-cache run")
    parser.add_argument("--size", type=int, default=None, help="input size in pixels")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    out: dict = {"quick": quick, "threads": torch.get_num_threads()}
    try:
        out["feature_cache"] = feature_cache_speedup(
            model=args.model or "resnet18", size=args.size or 64, images=300 if quick else 1200)
        if args.backbones:
            out["backbones"] = backbone_speeds(size=args.size or 75)
        out["data"] = data_benchmarks(quick)
    except StudyError as err:
        return exit_on_error(err)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    _print(out["feature_cache"])
    if args.backbones:
        print("paper backbones (random init; a demo epoch = 960 train + 120 val images):")
        for row in out["backbones"]:
            _print(row)
    for result in out["data"]:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
