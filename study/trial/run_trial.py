"""One whole trial from a flat config dict, without Ray: data, weights, backbone, feature cache, engine.

    from study.trial.run_trial import run_trial
    final = run_trial({"model": "tiny_cnn", "weights": "none", "max_epochs": 5},
                      on_epoch=lambda metrics, state: print(metrics))

`on_epoch(metrics, state)` runs after every epoch with the per-epoch metrics of docs/contracts.md and the state
to resume from; `run_trial(config, on_epoch, state=that_state)` continues exactly where it was
(a run stopped after epoch k and resumed ends with the metrics of one never stopped, on CPU with the
same seed), so the Ray trainable checkpoints the state with `save_state` and resumes with
`load_state`. `on_end(final, payload)` receives the best model as a torch-saveable dict that
`weights=<path>` accepts in a later trial. On the demo, a backbone without ImageNet weights starts from
random init, says so on stderr unless `announce_fallback=False` (the Ray runner says it once for
the whole run), and reports it in `weights_used`; `on_predictions(p)` receives the test set's predictions
(study/trial/predictions.py), which the caller saves. Every check (model, size, mode, weights, task, classes)
runs before any training. Torch's thread count is the caller's (a Ray trial sets it to its CPUs);
it is only lowered, to one, while a head trains on cached features.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from study.trial import engine, models, predictions
from study.config import default_cache_dir, resolve_config
from study.contract import BEST_EPOCH_METRICS, EPOCH_METRICS, FINAL_METRICS, LOGISTIC_METRICS, checked
from study.data import Collection, load_images, prepare_task, read_collection
from study.errors import StudyError
from study.trial.features import FeatureStore, backbone_fingerprint, extract, row_keys, store_key
from study.trial.logistic import fit_logistic
from study.trial.imagenet import imagenet_top1
from study.trial.transforms import ArrayDataset, ToInput, epoch_batches, epoch_generator, make_loader
from study.trial.weights import WeightsNotFound, checkpoint_origin, load_file

STATE_VERSION = 1
DEMO_FALLBACK = "none (imagenet weights not found: demo fallback)"
EVAL_BATCH = 64  # evaluation and feature extraction keep no activations for backward: bigger batches are fine


class TrialError(StudyError, ValueError):
    """A trial that cannot start: the message says what to change."""


def save_state(state: dict, path: str | Path) -> None:
    torch.save(state, path)


def load_state(path: str | Path) -> dict:
    return load_file(path)  # weights_only=True: a state holding a pickled object is refused, with a message


def _build_model(cfg, num_classes: int, demo: bool, announce: bool = True) -> tuple[models.TransferModel, str]:
    """The model and the `weights_used` it reports (a checkpoint as what it was trained on, not its path);
    the embedded demo falls back to random init."""
    try:
        model = models.get_model(cfg.model, num_classes, weights=cfg.weights)
        return model, cfg.weights if cfg.weights in ("imagenet", "none") else checkpoint_origin(cfg.weights)
    except WeightsNotFound as err:
        if not demo:
            raise
        if announce:
            print(f"notice: {err}. On the demo collection {cfg.model} starts from random init instead "
                  f"(weights_used: {DEMO_FALLBACK!r})", file=sys.stderr)
        return models.get_model(cfg.model, num_classes, weights="none"), DEMO_FALLBACK


def _feature_cache_status(cfg) -> str:
    if cfg.mode != "off_the_shelf":
        return "n/a: fine_tune"
    if cfg.augment:
        return "bypassed: augment"  # every epoch sees a different crop: nothing to reuse
    return "" if cfg.feature_cache else "off"  # "": decided by the store, hit or miss


@dataclass
class _Inputs:
    """What the epochs feed on: images through the whole model, or cached features through the head."""

    dataset: ArrayDataset
    net: torch.nn.Module  # the module batches go through
    train_prepare: ToInput | None  # uint8 images -> normalised (augmented) inputs; None for features
    eval_prepare: ToInput | None
    feature_cache: str  # the `feature_cache` value `final` reports
    images: bool
    features_time_s: float = 0.0  # seconds spent running the frozen backbone over images the cache lacked


def _inputs(cfg, model: models.TransferModel, size: int, fingerprint: str, collection: Collection,
            frame: pd.DataFrame, cache_dir: Path, device: torch.device) -> _Inputs:
    info, labels = model.info, frame["y"].to_numpy()
    to_input = ToInput(info.mean, info.std)
    status = _feature_cache_status(cfg)
    if status:  # no feature cache for this trial: every epoch runs the model on the images
        pixels = load_images(collection, frame, size, cache_dir=cache_dir, lazy=True)
        return _Inputs(ArrayDataset(pixels, labels), model, ToInput(info.mean, info.std, augment=cfg.augment),
                       to_input, status, images=True)
    store = FeatureStore(cache_dir, store_key(model=cfg.model, fingerprint=fingerprint, size=size, mean=info.mean,
                                              std=info.std, collection_key=collection.key))

    spent = 0.0

    def compute(missing: list[int]) -> np.ndarray:
        nonlocal spent
        started = time.perf_counter()
        print(f"computing {cfg.model} features of {len(missing)} images at {size} px -> {store.root}", file=sys.stderr)
        pixels = load_images(collection, frame.iloc[missing], size, cache_dir=cache_dir, lazy=True)
        features = extract(model.backbone, pixels, to_input, device, EVAL_BATCH, desc=f"{cfg.model} features")
        spent += time.perf_counter() - started
        return features

    features, status = store.get_or_compute(row_keys(frame["image_id"].tolist(), frame["path"].tolist()), compute)
    return _Inputs(ArrayDataset(torch.from_numpy(features), labels), model.head, None, None, status, images=False,
                   features_time_s=spent)


@contextlib.contextmanager
def _threads_for(inputs: _Inputs) -> Iterator[None]:
    """One thread while a linear head trains on cached features, the caller's count otherwise.

    Each batch is a few tiny ops: threads gain nothing, and on a busy machine every parallel region
    waits for a descheduled thread (measured: 25 epochs of a resnet18 head on 1,161 demo images took
    1.0 s on one thread, 6-12 s on two). Never more threads than the caller allowed, only fewer.
    """
    before = torch.get_num_threads()
    if not inputs.images:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _checked_config(config: dict[str, Any]):
    """The resolved config and the input size, once everything that needs no data is checked."""
    cfg = resolve_config(config)
    info = models.get_info(cfg.model)
    size = models.input_size(cfg.model, cfg.image_size)
    models.check_mode(info, cfg.mode, cfg.trainable_blocks)
    if cfg.weights not in ("imagenet", "none") and not Path(cfg.weights).expanduser().exists():
        raise TrialError(f"weights={cfg.weights!r} is neither 'imagenet', 'none' nor an existing checkpoint")
    return cfg, size


def _split(cfg, collection: Collection, cache_dir: Path):
    """The task's table (pruned, split) and each split's row positions in it."""
    task = prepare_task(collection, cfg.task, min_per_class=cfg.min_per_class, top_k=cfg.top_k,
                        split=cfg.split_fractions, split_seed=cfg.split_seed, cache_dir=cache_dir)
    frame = task.frame.reset_index(drop=True)
    rows = {s: np.flatnonzero(frame["split"].to_numpy() == s) for s in ("train", "val", "test")}
    if len(rows["val"]) == 0:
        raise TrialError(f"split={cfg.split!r} leaves no validation images to monitor {cfg.monitor}; give val a fraction")
    return task, frame, rows


class _Pass:
    """One pass over some rows through the trial's one DataLoader (its workers persist across passes).

    The rows are handed to the shared sampler when the pass starts, not when it is built: the train and
    val passes of an epoch are built together, and setting the sampler at build time trained on val.
    """

    def __init__(self, loader, batches: list[torch.Tensor]) -> None:
        self.loader, self.batches = loader, batches

    def __iter__(self):
        self.loader.sampler.batches = self.batches
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.batches)


def _epoch(epoch: int, inputs: _Inputs, train, val, optimizer, device: torch.device, k: int) -> dict:
    """One epoch of training, then validation: the per-epoch metrics of docs/contracts.md."""
    start = time.perf_counter()
    fit = engine.train_one_epoch(inputs.net, train, optimizer, device, inputs.train_prepare)
    scores = engine.evaluate(inputs.net, val, k, device, inputs.eval_prepare)
    return checked(EPOCH_METRICS, {
        "epoch": epoch, "train_loss": fit["loss"], "train_acc": fit["acc"], "val_loss": scores["loss"],
        "val_acc": scores["acc"], "val_bacc": scores["bacc"], "epoch_time_s": time.perf_counter() - start,
        "train_images_per_s": fit["images"] / max(fit["seconds"], 1e-9),
    })


def run_trial(
    config: dict[str, Any],
    on_epoch: Callable[[dict, dict], None] | None = None,
    state: dict | None = None,
    *,
    collection: Collection | None = None,
    on_end: Callable[[dict, dict], None] | None = None,
    announce_fallback: bool = True,
    on_predictions: Callable[[predictions.Predictions], None] | None = None,
) -> dict:
    cfg, size = _checked_config(config)
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if collection is None:
        collection = read_collection(cfg.collection, cfg.data_root or None, cache_dir=cache_dir)
    task, frame, rows = _split(cfg, collection, cache_dir)
    k = len(task.classes)

    engine.seed_everything(cfg.seed)  # before building: weights=none draws its init from here
    model, weights_used = _build_model(cfg, k, demo=collection.name == "demo", announce=announce_fallback)
    models.set_mode(model, cfg.mode, cfg.trainable_blocks)
    device = engine.default_device()
    engine.place(model, device)
    frozen = cfg.mode == "off_the_shelf"
    fingerprint = backbone_fingerprint(model.backbone) if frozen else ""
    inputs = _inputs(cfg, model, size, fingerprint, collection, frame, cache_dir, device)
    workers = cfg.num_workers if inputs.images else 0  # cached features are in memory already

    # One loader for every pass of the trial, so its worker processes (if any) start once
    shared_loader = make_loader(inputs.dataset, num_workers=workers, pin_memory=device.type == "cuda")

    def loader(split: str, generator: torch.Generator | None = None, batch: int = cfg.batch_size) -> _Pass:
        idx = rows[split]
        return _Pass(shared_loader, [torch.from_numpy(idx[b.numpy()]) for b in epoch_batches(len(idx), batch, generator)])

    # what training changes, and so what a checkpoint must hold: the head alone when the backbone is frozen
    trainable = model.head if frozen else model
    optimizer = engine.make_optimizer(trainable.parameters(), cfg.optimizer, cfg.lr, momentum=cfg.momentum,
                                      nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    stopper = engine.EarlyStopping(cfg.monitor_mode, cfg.patience)
    identity = {"model": cfg.model, "mode": cfg.mode, "classes": list(task.classes), "input_size": size,
                "seed": cfg.seed, "backbone": fingerprint, "trainable_blocks": cfg.trainable_blocks}
    epoch, stopped, diverged = 0, False, False
    if state is not None:
        epoch, stopped = _restore(state, identity, trainable, optimizer, stopper)
        diverged = bool(state.get("diverged", False))

    with _threads_for(inputs):
        if cfg.head_fit == "logistic" and not stopped:  # one step instead of epochs: the fit picks its own L2
            epoch, stopped = 1, True
            metrics = _fit_logistic_head(model, inputs, rows, k, cfg.monitor, cfg.seed)
            stopper.step(metrics[cfg.monitor], epoch, trainable.state_dict,
                         {key: metrics[key] for key in BEST_EPOCH_METRICS})
            if on_epoch is not None:
                on_epoch(metrics, _snapshot(epoch, stopped, diverged, identity, trainable, optimizer, stopper))
        while not stopped and epoch < cfg.max_epochs:
            epoch += 1
            generator = epoch_generator(cfg.seed, epoch)
            if inputs.train_prepare is not None:
                inputs.train_prepare.generator = generator  # this epoch's crops and flips
            metrics = _epoch(epoch, inputs, loader("train", generator), loader("val", batch=EVAL_BATCH), optimizer,
                             device, k)
            stopper.step(metrics[cfg.monitor], epoch, trainable.state_dict,
                         {key: metrics[key] for key in BEST_EPOCH_METRICS})
            # NaN weights never come back: stop, test the best epoch before it, and say so in `final`
            diverged = not math.isfinite(metrics["train_loss"])
            if diverged:
                print(f"notice: {cfg.model} {cfg.mode} diverged in epoch {epoch} (train loss {metrics['train_loss']}); "
                      f"stopping and testing epoch {stopper.best_epoch}'s weights. A lower lr may help.",
                      file=sys.stderr)
            stopped = stopper.should_stop or diverged
            if on_epoch is not None:
                on_epoch(metrics, _snapshot(epoch, stopped, diverged, identity, trainable, optimizer, stopper))

        if stopper.best_state is not None:  # test the best epoch's weights, not the last one's
            trainable.load_state_dict(stopper.best_state)
        started = time.perf_counter()
        logits, labels = engine.predict(inputs.net, loader("test", batch=EVAL_BATCH), device, inputs.eval_prepare)
        test = engine.classification_metrics(logits, labels, k)
        test_time_s = time.perf_counter() - started
    if on_predictions is not None:
        on_predictions(_test_predictions(logits, labels, frame, rows["test"], list(task.classes)))
    counts = {split: len(idx) for split, idx in rows.items()}
    final = checked(FINAL_METRICS, {
        "best_epoch": stopper.best_epoch, "test_acc": test["acc"], "test_bacc": test["bacc"], "test_f1": test["f1"],
        "test_top5": test["top5"], "num_classes": k, "n_train": counts["train"], "n_val": counts["val"],
        "n_test": counts["test"], "weights_used": weights_used, **stopper.best_metrics,
        "imagenet_top1": imagenet_top1(cfg.model) if weights_used == "imagenet" else None,
        # a logistic head is one fit, not epochs that patience cut short
        "epochs_run": epoch, "stopped_early": bool(stopped and epoch < cfg.max_epochs and cfg.head_fit != "logistic"),
        "diverged": diverged,
        "feature_cache": inputs.feature_cache, "features_time_s": inputs.features_time_s, "test_time_s": test_time_s,
        "resolved_config": {**cfg.to_dict(), "image_size": size},
    })
    if on_end is not None:
        on_end(final, _payload(cfg, model, weights_used, fingerprint, list(task.classes), size))
    return final


def _fit_logistic_head(model: models.TransferModel, inputs: _Inputs, rows: dict[str, np.ndarray], k: int,
                       monitor: str, seed: int) -> dict:
    """Kornblith et al.'s head (study/trial/logistic.py) on the cached features, copied into model.head."""
    features, labels = inputs.dataset.inputs.numpy(), inputs.dataset.labels.numpy()
    train, val = rows["train"], rows["val"]
    fit = fit_logistic(features[train], labels[train], features[val], labels[val], num_classes=k, monitor=monitor,
                       seed=seed)
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(fit.weight))
        model.head.bias.copy_(torch.from_numpy(fit.bias))
    return checked(EPOCH_METRICS, {"epoch": 1, **fit.metrics, "epoch_time_s": fit.seconds,
                                   "train_images_per_s": len(train) / max(fit.seconds, 1e-9), "head_c": fit.c},
                   optional=LOGISTIC_METRICS)


def _payload(cfg, model: models.TransferModel, weights_used: str, fingerprint: str, classes: list[str],
             size: int) -> dict:
    """The best model as `weights=<path>` and `models.load_model` read it.

    A frozen backbone that came from ImageNet or a seeded random init is named, not copied: the file
    holds the head and a reference (weights, seed, hash), ~100x smaller (a resnet50 model.pt: 94 MB
    whole, under 1 MB so). A backbone that came from another checkpoint is copied: that file may move.
    """
    source = "none" if weights_used == DEMO_FALLBACK else cfg.weights
    # what a later trial's weights_used says it started from (weights.checkpoint_origin); the caller may add "trial"
    origin = {"trained_on": f"{cfg.collection}/{cfg.task}", "started_from": source
              if source in ("imagenet", "none") else "a checkpoint"}
    payload = {"model": cfg.model, "classes": classes, "num_classes": len(classes), "input_size": size,
               "origin": origin}
    if cfg.mode == "off_the_shelf" and source in ("imagenet", "none"):
        payload["state_dict"] = engine.clone_state({f"head.{k}": v for k, v in model.head.state_dict().items()})
        payload["backbone_reference"] = {"model": cfg.model, "weights": source, "seed": cfg.seed,
                                         "fingerprint": fingerprint}
    else:
        payload["state_dict"] = engine.clone_state(model.state_dict())
    return payload


def _test_predictions(logits: torch.Tensor, labels: torch.Tensor, frame: pd.DataFrame, test_rows: np.ndarray,
                      classes: list[str]) -> predictions.Predictions:
    """The test loader runs through `test_rows` in order, so logits row i is frame row test_rows[i]."""
    counts = predictions.split_counts(frame["y"].to_numpy(), frame["split"].to_numpy(), len(classes))
    return predictions.collect(logits, labels, frame["image_id"].iloc[test_rows].tolist(), classes, counts)


def _snapshot(epoch: int, stopped: bool, diverged: bool, identity: dict, trainable: torch.nn.Module,
              optimizer: torch.optim.Optimizer, stopper: engine.EarlyStopping) -> dict:
    """Everything epoch `epoch` leaves behind, as plain tensors/dicts/lists/numbers (weights_only-loadable).

    When this epoch is the best so far, the best weights are the trainable's own: saved once, not
    twice (a fine-tuned model's state is then 2x its size instead of 3x, and it is written every epoch).
    """
    early_stopping = stopper.state_dict()
    best_is_current = stopper.best_epoch == epoch
    if best_is_current:
        early_stopping["best_state"] = None
    return engine.clone_state({
        "version": STATE_VERSION, "epoch": epoch, "stopped": stopped, "diverged": diverged, "identity": identity,
        "trainable": trainable.state_dict(), "optimizer": optimizer.state_dict(),
        "early_stopping": early_stopping, "best_is_current": best_is_current, "rng": engine.rng_state(),
    })


def _restore(state: dict, identity: dict, trainable: torch.nn.Module, optimizer: torch.optim.Optimizer,
             stopper: engine.EarlyStopping) -> tuple[int, bool]:
    if state.get("version") != STATE_VERSION:
        raise TrialError(f"resume state has version {state.get('version')!r}, this artstudy writes {STATE_VERSION}")
    differs = [key for key in identity if state["identity"].get(key) != identity[key]]
    if differs:
        raise TrialError(f"resume state belongs to another trial (it differs in {', '.join(differs)}); "
                         "start this one afresh")
    trainable.load_state_dict(state["trainable"])
    optimizer.load_state_dict(state["optimizer"])
    stopper.load_state_dict(state["early_stopping"])
    if state.get("best_is_current"):
        stopper.best_state = engine.clone_state(state["trainable"])
    engine.set_rng_state(state["rng"])
    return int(state["epoch"]), bool(state["stopped"])
