"""Write experiment folders in Ray Tune 2.60's on-disk layout, without Ray: for the tests.

The layout copies what a real `tune.Tuner(...).fit()` leaves (checked against Ray 2.60.0):

    <storage>/<name>/
      experiment_state-<date>.json        {"trial_data": [[trial json str, runtime json str], ...], ...}
      study.json                          written by study.run (here: by `write_study`)
      <trainable>_<exp>_<i:05d>_<i>_<tag>_<date>/   e.g. trainable_1c8a5_00000_0_lr=0.0010,seed=0_2026-11-29_08-23-14
        params.json   the trial's config, indent 2, keys sorted
        params.pkl
        result.json   one JSON object per tune.report, our metrics plus Ray's keys (training_iteration,
                      trial_id, done, time_total_s, config, ...); a scheduler-stopped trial's last line has done: true
        progress.csv  the same rows; columns fixed by the first row, nested dicts left out
        error.txt, error.pkl   when the trial raised (result.json may then be empty)

    >>> exp = write_experiment(tmp / "exp", [FakeTrial({"model": "resnet50", "lr": 1e-3}, epochs, final)])
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from study.contract import CLASSES_FILE, FINAL_FILE, LOGITS_FILE, PREDICTIONS_FILE

DATE = "2026-11-29_08-23-14"


@dataclass
class FakeTrial:
    config: dict
    epochs: list[dict] = field(default_factory=list)  # per-epoch metrics, `epoch` included
    final: dict | None = None  # the final report (test_acc, best_epoch, ..., resolved_config)
    # "finished" (with final) | "stopped" (ASHA: last epoch done=true, TERMINATED) | "errored" | "running" | "pending"
    status: str = "finished"
    error: str = "RuntimeError: CUDA out of memory"
    cut_last_line: bool = False  # a trial killed while writing: the last result line cut off mid-way
    checkpoints: bool = True  # the real trainable checkpoints every epoch
    outputs: Outputs | None = None  # a finished trial's saved test outputs (predictions, classes, logits)


@dataclass
class Outputs:
    """What a finished trial's final checkpoint holds besides final.json, from hand-chosen logits."""

    labels: list[str]  # the K classes, in output order
    n_train: list[int]  # training images per class
    image_ids: list[str]
    truth: list[str]  # each test image's true label
    logits: list[list[float]]  # n_test x K

    def write(self, folder: Path) -> None:
        import numpy as np
        import pandas as pd

        logits = np.asarray(self.logits, dtype=np.float32).reshape(len(self.image_ids), len(self.labels))
        index = {label: i for i, label in enumerate(self.labels)}
        true = [index[t] for t in self.truth]
        pred = logits.argmax(1) if len(logits) else np.zeros(0, dtype=int)
        pd.DataFrame({"image_id": self.image_ids, "true": true, "true_label": self.truth, "pred": pred,
                      "pred_label": [self.labels[i] for i in pred]}).to_csv(folder / PREDICTIONS_FILE, index=False)
        n_test = [self.truth.count(label) for label in self.labels]
        pd.DataFrame({"class": range(len(self.labels)), "label": self.labels, "n_train": self.n_train,
                      "n_val": [0] * len(self.labels), "n_test": n_test}).to_csv(folder / CLASSES_FILE, index=False)
        np.savez(folder / LOGITS_FILE, logits=logits.astype(np.float16), image_id=np.asarray(self.image_ids, dtype=str),
                 label=np.asarray(self.labels, dtype=str))


def scored(labels: list[str], rankings: list[list[str]]) -> list[list[float]]:
    """Logits from each image's ranking of some labels (first = highest); unranked labels score lowest."""
    return [[float(len(ranking) - ranking.index(label)) if label in ranking else -1.0 for label in labels]
            for ranking in rankings]


def _tag(config: dict, varied: list[str]) -> str:
    parts = []
    for key in varied:
        value = config.get(key)
        parts.append(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}".replace("/", "_"))
    return ",".join(parts)[:100]  # Ray shortens a long tag too


def _ray_row(metrics: dict, *, i: int, trial_id: str, config: dict, done: bool, checkpoint: bool) -> dict:
    row = dict(metrics)
    row.update({
        "timestamp": 1795940597 + i, "checkpoint_dir_name": f"checkpoint_{i - 1:06d}" if checkpoint else None,
    })
    if checkpoint:
        row["should_checkpoint"] = True
    row.update({
        "done": done, "training_iteration": i, "trial_id": trial_id, "date": DATE,
        "time_this_iter_s": 0.5, "time_total_s": 0.5 * i, "pid": 5543, "hostname": "vm", "node_ip": "127.0.0.1",
        "config": config, "time_since_restore": 0.5 * i, "iterations_since_restore": i,
    })
    return row


def _progress_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    columns = [k for k, v in rows[0].items() if not isinstance(v, (dict, list))]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue()


def write_trial(exp_dir: Path, index: int, trial: FakeTrial, *, varied: list[str], exp_id: str = "1c8a5",
                trainable: str = "trainable") -> tuple[str, dict]:
    """Write one trial folder; return its folder name and its experiment_state entry."""
    trial_id = f"{exp_id}_{index:05d}"
    name = f"{trainable}_{trial_id}_{index}_{_tag(trial.config, varied)}_{DATE}"
    folder = exp_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(trial.config, indent=2, sort_keys=True), encoding="utf-8")
    (folder / "params.pkl").write_bytes(pickle.dumps(trial.config))

    reports = list(trial.epochs) + ([trial.final] if trial.final is not None and trial.status == "finished" else [])
    rows = []
    for i, metrics in enumerate(reports, start=1):
        last = i == len(reports)
        done = last and trial.status in ("finished", "stopped")
        rows.append(_ray_row(metrics, i=i, trial_id=trial_id, config=trial.config, done=done,
                             checkpoint=trial.checkpoints))
        if trial.checkpoints:
            (folder / f"checkpoint_{i - 1:06d}").mkdir(exist_ok=True)
    if trial.outputs is not None and trial.status == "finished":
        final_dir = folder / f"checkpoint_{max(len(reports) - 1, 0):06d}"
        final_dir.mkdir(exist_ok=True)
        (final_dir / FINAL_FILE).write_text(json.dumps(trial.final), encoding="utf-8")
        trial.outputs.write(final_dir)
    lines = [json.dumps(row) for row in rows]
    text = "".join(line + "\n" for line in lines)
    if trial.cut_last_line and lines:
        text = "".join(line + "\n" for line in lines[:-1]) + lines[-1][: len(lines[-1]) // 2]
    (folder / "result.json").write_text(text, encoding="utf-8")
    if rows:
        (folder / "progress.csv").write_text(_progress_csv(rows), encoding="utf-8")
    if trial.status == "errored":
        (folder / "error.txt").write_text(
            f"Failure # 1 (occurred at {DATE})\nray::ImplicitFunc.train() (pid=5648, ip=127.0.0.1)\n"
            f"  File \"study/run/trainable.py\", line 1, in train\n{trial.error}\n", encoding="utf-8")
        (folder / "error.pkl").write_bytes(pickle.dumps(trial.error))
    status = {"finished": "TERMINATED", "stopped": "TERMINATED", "errored": "ERROR", "running": "RUNNING",
              "pending": "PENDING"}[trial.status]
    meta = {"stub": False, "trainable_name": trainable, "trial_id": trial_id, "config": trial.config,
            "evaluated_params": {k: trial.config.get(k) for k in varied},
            "experiment_tag": f"{index}_{_tag(trial.config, varied)}", "status": status, "relative_logdir": name}
    runtime = {"start_time": 1795940597.7, "num_failures": int(trial.status == "errored"),
               "error_filename": "error.txt" if trial.status == "errored" else None,
               "pickled_error_filename": "error.pkl" if trial.status == "errored" else None,
               "last_result": rows[-1] if rows else {}}
    return name, {"meta": meta, "runtime": runtime}


def write_state(exp_dir: Path, entries: list[dict]) -> Path:
    state = {"trial_data": [[json.dumps(e["meta"], indent=2), json.dumps(e["runtime"], indent=2)] for e in entries],
             "runner_data": {"_iteration": 173, "_has_errored": any(e["meta"]["status"] == "ERROR" for e in entries)},
             "stats": {"start_time": 1795940594.18}}
    path = exp_dir / f"experiment_state-{DATE}.json"
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return path


def write_study(exp_dir: Path, study: dict) -> Path:
    path = exp_dir / "study.json"
    path.write_text(json.dumps(study, indent=2), encoding="utf-8")
    return path


def write_experiment(exp_dir, trials: list[FakeTrial], study: dict | None = None, *, state: bool = True,
                     exp_id: str = "1c8a5", trainable: str = "trainable") -> Path:
    """An experiment folder holding `trials` (and study.json when given); returns the folder."""
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for t in trials for k in t.config))
    varied = [k for k in keys if len({json.dumps(t.config.get(k)) for t in trials}) > 1]
    entries = [write_trial(exp_dir, i, t, varied=varied, exp_id=exp_id, trainable=trainable)[1]
               for i, t in enumerate(trials)]
    if state:
        write_state(exp_dir, entries)
    if study is not None:
        write_study(exp_dir, study)
    return exp_dir


def epochs_from(val_loss: list[float], val_acc: list[float], **extra) -> list[dict]:
    """Per-epoch rows with the per-epoch metric names of docs/contracts.md, from two curves (other metrics derived)."""
    rows = []
    for e, (loss, acc) in enumerate(zip(val_loss, val_acc), start=1):
        rows.append({"epoch": e, "train_loss": loss * 0.8, "train_acc": min(1.0, acc + 0.05), "val_loss": loss,
                     "val_acc": acc, "val_bacc": acc * 0.9, "epoch_time_s": 1.5, "train_images_per_s": 200.0,
                     **extra})
    return rows


# ---------------------------------------------------------------- example experiments (tests, demos)

import random  # noqa: E402

VERSIONS = {"artstudy": "0.1.0", "python": "3.11.7", "torch": "2.14.1", "torchvision": "0.29.1", "timm": "1.0.31",
            "ray": "2.60.0", "optuna": "5.0.0"}


def _curve(rng: random.Random, epochs: int, best: int, start_acc: float, top_acc: float):
    """val_loss falls to its minimum at `best` then rises (overfitting); val_acc rises with noise."""
    loss, acc = [], []
    for e in range(1, epochs + 1):
        loss.append(round(1.0 + abs(e - best) * 0.1 + rng.uniform(0, 0.04) + (0 if e == best else 0.01), 4))
        acc.append(round(min(0.99, start_acc + (top_acc - start_acc) * min(e, best + 1) / (best + 1)
                             + rng.uniform(-0.02, 0.02)), 4))
    return loss, acc


def _final(rng: random.Random, config: dict, epochs: list[dict], num_classes: int, test_acc: float) -> dict:
    monitor = config.get("monitor", "val_loss")
    pick = min if monitor == "val_loss" else max
    best = pick(epochs, key=lambda r: r[monitor])  # earliest on ties, like early stopping
    return {"best_epoch": best["epoch"], "test_acc": test_acc, "test_bacc": round(test_acc * 0.85, 4),
            "test_f1": round(test_acc * 0.8, 4), "test_top5": min(1.0, round(test_acc + 0.1, 4)),
            "num_classes": num_classes, "n_train": num_classes * 40, "n_val": num_classes * 5,
            "n_test": num_classes * 5, "weights_used": "imagenet", "val_loss": best["val_loss"],
            "val_acc": best["val_acc"], "val_bacc": best["val_bacc"], "epochs_run": len(epochs),
            "stopped_early": True, "feature_cache": "hit" if config.get("mode") == "off_the_shelf" else "n/a: fine_tune",
            "resolved_config": {**config, "optimizer": "sgd" if config.get("mode") == "fine_tune" else "rmsprop",
                                "momentum": 0.9 if config.get("mode") == "fine_tune" else 0.0,
                                "weights": "imagenet", "image_size": 224, "batch_size": 32}}


def _study(space: str, question: str, scientific, nuisance, fixed, metric="val_acc", mode="max",
           collection: dict | None = None) -> dict:
    return {"space": space, "question": question,
            "roles": {"scientific": list(scientific), "nuisance": list(nuisance), "fixed": list(fixed)},
            "metric": metric, "mode": mode, "command": f"python -m study.run --space {space} --seeds 3",
            "argv": ["--space", space, "--seeds", "3"], "versions": VERSIONS, "collection": collection or {},
            "budget": "demo", "seeds": 3, "created": "2026-11-29T08:23:14"}


def paper_grid(exp_dir, seed: int = 0) -> Path:
    """grid_paper on the Rijksmuseum: 2 tasks x 2 models x 2 modes x 3 seeds, with one errored and one missing seed.

    Early stopping on val_loss, so the best epoch is not the last; one trial monitors val_acc instead.
    """
    rng = random.Random(seed)
    trials = []
    for task in ("material", "artist"):
        for model in ("resnet50", "vgg19"):
            for mode in ("off_the_shelf", "fine_tune"):
                for s in (0, 1, 2):
                    if (task, model, mode) == ("artist", "vgg19", "fine_tune") and s > 0:
                        continue  # n = 1 for this cell
                    config = {"collection": "rijksmuseum", "data_root": "/data/rijks", "task": task, "model": model,
                              "mode": mode, "seed": s, "max_epochs": 30, "patience": 3, "monitor": "val_loss"}
                    if (task, model, mode, s) == ("material", "vgg19", "fine_tune", 1):
                        config["monitor"] = "val_acc"
                    n = rng.randint(6, 9)
                    loss, acc = _curve(rng, n, best=n - 3, start_acc=0.3, top_acc=0.6 + 0.3 * (mode == "fine_tune"))
                    if config["monitor"] == "val_acc":  # best accuracy at another epoch than the best loss
                        acc[1] = 0.99
                    epochs = epochs_from(loss, acc)
                    if (task, model, mode, s) == ("artist", "vgg19", "off_the_shelf", 2):
                        trials.append(FakeTrial(config, epochs[:2], status="errored"))
                        continue
                    test = round(rng.uniform(0.35, 0.6) + 0.3 * (mode == "fine_tune") * (task == "material"), 4)
                    num_classes = 206 if task == "material" else 1196
                    trials.append(FakeTrial(config, epochs, _final(rng, config, epochs, num_classes, test)))
    summary = {"collection": "rijksmuseum", "root": "/data/rijks", "tasks": {
        "material": {"images": 110668, "classes": 206, "train": 88500, "val": 11084, "test": 11084,
                     "dropped": {"bad_metadata": 0, "unreadable": 2, "no_label": 1500, "multi_label": 0,
                                 "rare_class": 300, "pruned": 0}},
        "artist": {"images": 82018, "classes": 1196, "train": 65000, "val": 8509, "test": 8509,
                   "dropped": {"bad_metadata": 0, "unreadable": 2, "no_label": 30000, "multi_label": 0,
                               "rare_class": 1000, "pruned": 0}}}}
    study = _study("grid_paper", "How well do ImageNet CNNs classify the Rijksmuseum collection off the shelf "
                   "and fine-tuned (Sabatelli et al. 2018, Table 2)?", ["task", "model", "mode"], [],
                   ["lr", "batch_size", "patience"], metric="val_loss", mode="min", collection=summary)
    return write_experiment(exp_dir, trials, study)


def labels_study(exp_dir, seed: int = 1) -> Path:
    """labels_kept on the Rijksmuseum artists: top_k in {0 (all 180), 100, 25} x 2 modes x 2 seeds."""
    rng = random.Random(seed)
    trials = []
    for top_k, classes in ((0, 180), (100, 100), (25, 25)):
        for mode in ("off_the_shelf", "fine_tune"):
            for s in (0, 1):
                config = {"collection": "rijksmuseum", "data_root": "/data/rijks", "task": "artist",
                          "model": "resnet50", "mode": mode, "top_k": top_k, "seed": s}
                loss, acc = _curve(rng, 6, best=3, start_acc=0.2, top_acc=0.5)
                epochs = epochs_from(loss, acc)
                test = round(0.9 - 0.1 * (classes / 100) + rng.uniform(-0.03, 0.03) - 0.1 * (mode == "off_the_shelf"), 4)
                trials.append(FakeTrial(config, epochs, _final(rng, config, epochs, classes, test)))
    study = _study("labels_kept", "How does accuracy fall as more artists are kept (the 2020 reproduction's "
                   "proposal)?", ["model", "mode", "top_k"], [], ["lr"],
                   collection={"collection": "rijksmuseum", "root": "/data/rijks", "tasks": {
                       "artist": {"images": 82018, "classes": 1196, "train": 65000, "val": 8509, "test": 8509,
                                  "dropped": {}}}})
    return write_experiment(exp_dir, trials, study)


def lr_sweep(exp_dir, seed: int = 2) -> Path:
    """lr_sweep: lr x weight_decay per mode, 2 seeds; off-the-shelf's best lr is the highest tried."""
    rng = random.Random(seed)
    trials = []
    for mode in ("off_the_shelf", "fine_tune"):
        for lr in (1e-4, 1e-3, 1e-2):
            for wd in (0.0, 1e-4):
                for s in (0, 1):
                    config = {"collection": "demo", "task": "material", "model": "resnet50", "mode": mode,
                              "lr": lr, "weight_decay": wd, "seed": s, "monitor": "val_acc"}
                    if mode == "off_the_shelf":
                        top = {1e-4: 0.5, 1e-3: 0.6, 1e-2: 0.7}[lr]
                    else:
                        top = {1e-4: 0.6, 1e-3: 0.8, 1e-2: 0.4}[lr]
                    top += 0.02 * (wd > 0) + rng.uniform(-0.01, 0.01)
                    loss, acc = _curve(rng, 5, best=3, start_acc=0.2, top_acc=top)
                    epochs = epochs_from(loss, acc)
                    trials.append(FakeTrial(config, epochs, _final(rng, config, epochs, 5, round(top - 0.05, 4))))
    study = _study("lr_sweep", "Which learning rate and weight decay suit each mode on the demo collection?",
                   ["model", "mode"], ["lr", "weight_decay"], ["batch_size"],
                   collection={"collection": "demo", "root": "", "tasks": {
                       "material": {"images": 300, "classes": 5, "train": 240, "val": 30, "test": 30,
                                    "dropped": {"bad_metadata": 1, "unreadable": 1, "no_label": 3, "multi_label": 0,
                                                "rare_class": 0, "pruned": 0}}}})
    return write_experiment(exp_dir, trials, study)


def partial_run(exp_dir, seed: int = 3) -> Path:
    """An experiment caught mid-run: finished, ASHA-stopped, errored, running (last line cut off), pending."""
    rng = random.Random(seed)
    trials = []
    for i, status in enumerate(("finished", "finished", "stopped", "errored", "running", "pending")):
        config = {"collection": "demo", "task": "material", "model": "resnet50", "mode": "fine_tune",
                  "lr": [1e-4, 1e-3, 1e-2, 3e-2, 3e-3, 3e-4][i], "seed": 0}
        loss, acc = _curve(rng, 6, best=3, start_acc=0.2, top_acc=0.6)
        epochs = epochs_from(loss, acc)
        if status == "stopped":
            epochs = epochs[:2]
        elif status == "errored":
            epochs = []
        elif status == "pending":
            epochs = []
        final = _final(rng, config, epochs, 5, 0.55) if status == "finished" else None
        trials.append(FakeTrial(config, epochs, final, status=status, cut_last_line=status == "running"))
    study = _study("asha_lr", "Which learning rate, with ASHA stopping the weak ones early?",
                   ["model", "mode"], ["lr"], [], collection={})
    return write_experiment(exp_dir, trials, study)


def mixed_spaces(exp_dir, seed: int = 4) -> Path:
    """Two runs of different spaces written into one folder, without study.json."""
    rng = random.Random(seed)
    exp_dir = Path(exp_dir)
    first, second = [], []
    for mode in ("off_the_shelf", "fine_tune"):
        config = {"task": "material", "model": "resnet50", "mode": mode, "lr": 1e-3}
        loss, acc = _curve(rng, 4, best=2, start_acc=0.2, top_acc=0.6)
        epochs = epochs_from(loss, acc)
        first.append(FakeTrial(config, epochs, _final(rng, config, epochs, 5, 0.5)))
    for batch in (16, 64):
        config = {"task": "type", "model": "vgg19", "batch_size": batch}
        loss, acc = _curve(rng, 4, best=2, start_acc=0.2, top_acc=0.6)
        epochs = epochs_from(loss, acc)
        second.append(FakeTrial(config, epochs, _final(rng, config, epochs, 7, 0.4)))
    write_experiment(exp_dir, first, None, exp_id="aaaaa", trainable="trainable")
    write_experiment(exp_dir, second, None, state=False, exp_id="bbbbb", trainable="other_trainable")
    return exp_dir


# label_pruning with saved test outputs: 5 classes (E has no test image), rungs top_k 5 (all), 3 and 1 (one class),
# ImageNet and random-init weights. Each image's true label and each model's ranking, chosen by hand.
PRUNING_LABELS = ["A", "B", "C", "D", "E"]
PRUNING_TRAIN = [40, 30, 20, 10, 5]
PRUNING_TRUTH = ["A", "A", "A", "A", "B", "B", "B", "C", "C", "C", "D", "D"]
PRUNING_RANKINGS = {
    # the full rung's ImageNet model: 5 of 12 right; restricted to A, B, C on images 0-9, 7 of 10 right
    ("imagenet", 5): [["A"], ["A"], ["B", "A"], ["D", "A"], ["B"], ["A", "B"], ["D", "B"], ["C"], ["D", "C"],
                      ["E", "A"], ["D"], ["A"]],
    ("imagenet", 3): [["A"], ["A"], ["A"], ["B"], ["B"], ["B"], ["B"], ["C"], ["C"], ["A"]],  # 8 of 10
    ("imagenet", 1): [["A"]] * 4,  # a one-class rung: perfect by construction
    ("none", 5): [["A"]] * 12,  # the random-init models answer A (4 of 12; restricted to A, B, C: 4 of 10)
    ("none", 3): [["A"]] * 4 + [["B"]] + [["A"]] * 5,  # 5 of 10
    ("none", 1): [["A"]] * 4,
}


def pruning_outputs(weights: str, top_k: int) -> Outputs:
    labels = PRUNING_LABELS[:top_k]
    rows = [i for i, t in enumerate(PRUNING_TRUTH) if t in labels]
    return Outputs(labels, PRUNING_TRAIN[:top_k], [f"img{i:02d}" for i in rows], [PRUNING_TRUTH[i] for i in rows],
                   scored(labels, PRUNING_RANKINGS[(weights, top_k)]))


def pruning_study(exp_dir, seed: int = 5) -> Path:
    """label_pruning on a 5-class task: top_k 5, 3, 1 x weights imagenet, none; every trial saves its outputs."""
    rng = random.Random(seed)
    trials = []
    for weights in ("imagenet", "none"):
        for top_k in (5, 3, 1):
            config = {"collection": "demo", "task": "artist", "model": "efficientnet_lite0", "mode": "off_the_shelf",
                      "weights": weights, "top_k": top_k, "seed": 0, "monitor": "val_loss"}
            loss, acc = _curve(rng, 3, best=1, start_acc=0.3, top_acc=0.6)
            epochs = epochs_from(loss, acc)
            outputs = pruning_outputs(weights, top_k)
            correct = sum(o == t for o, t in zip(_argmax_labels(outputs), outputs.truth))
            final = _final(rng, config, epochs, top_k, round(correct / len(outputs.truth), 4))
            final.update(n_test=len(outputs.truth), weights_used=weights)
            final["resolved_config"]["weights"] = weights
            trials.append(FakeTrial(config, epochs, final, outputs=outputs))
    study = _study("label_pruning", "How does accuracy change as fewer, more frequent classes are kept?",
                   ["top_k", "model", "mode"], [], ["lr"], metric="val_loss", mode="min")
    return write_experiment(exp_dir, trials, study)


def _argmax_labels(outputs: Outputs) -> list[str]:
    return [outputs.labels[max(range(len(row)), key=row.__getitem__)] for row in outputs.logits]
