"""A trial's test predictions as two small CSV tables, so analysis can go past the aggregate metrics.

    predictions.csv  one row per test image: image_id, true, true_label, pred, pred_label,
                     top1_label, top1_prob, ..., top5_label, top5_prob (fewer with fewer classes)
    classes.csv      one row per class: class (the model's output index), label, n_train, n_val, n_test
    test_logits.npz  every logit: `logits` float16 (n_test, K), `image_id` (predictions.csv's rows, in
                     order), `label` (the K classes in output order); np.load(..., allow_pickle=False)

Per-class accuracy, confusions and paired significance tests (analysis/per_class.py,
analysis/significance.py) read them with pandas alone: no torch, no Ray. `pred` is -1 for an image
whose scores were not finite (a diverged model), which the trial's metrics count as wrong too.
CSV rather than Parquet: the reader then needs nothing beyond pandas. The logits are what the top-5
columns cannot give: a model's scores restricted to a subset of its classes (label_pruning's "same model,
easier test"). float16 halves them (artist on the Rijksmuseum collection: ~8k x 1,196 x 2 bytes ~ 19 MB
a trial); its ~3 significant digits leave the ranking of all but near-tied classes as it was.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from study import atomic, spreadsheet
from study.contract import CLASSES_FILE, LOGITS_FILE, PREDICTIONS_FILE

TOP = 5


@dataclass
class Predictions:
    table: pd.DataFrame  # predictions.csv
    classes: pd.DataFrame  # classes.csv
    logits: np.ndarray  # test_logits.npz: float16, one row per row of `table`, one column per row of `classes`

    def write(self, folder: str | Path) -> list[Path]:
        return [spreadsheet.to_csv(self.table, Path(folder) / PREDICTIONS_FILE, index=False),
                spreadsheet.to_csv(self.classes, Path(folder) / CLASSES_FILE, index=False),
                write_logits(Path(folder) / LOGITS_FILE, self.logits, self.table["image_id"], self.classes["label"])]


def write_logits(path: Path, logits: np.ndarray, image_ids, labels) -> Path:
    """The .npz of LOGITS_FILE, written whole or not at all; strings as numpy unicode, so no pickle."""
    buffer = io.BytesIO()
    np.savez(buffer, logits=np.asarray(logits, dtype=np.float16),
             image_id=np.asarray(list(image_ids), dtype=str), label=np.asarray(list(labels), dtype=str))
    return atomic.write_bytes(path, buffer.getvalue())


def top_k(logits: torch.Tensor, classes: list[str], k: int = TOP) -> tuple[np.ndarray, pd.DataFrame]:
    """(argmax per row, -1 where the scores are not finite; the top-k labels and softmax probabilities)."""
    k = min(k, len(classes))
    finite = torch.isfinite(logits).all(1).numpy() if len(logits) else np.zeros(0, dtype=bool)
    probs = torch.softmax(logits.float(), 1)
    values, indices = probs.topk(k, dim=1) if len(logits) else (torch.empty(0, k), torch.empty(0, k, dtype=torch.long))
    names = np.asarray(classes, dtype=object)
    columns = {}
    for i in range(k):
        columns[f"top{i + 1}_label"] = np.where(finite, names[indices[:, i].numpy()], None)
        columns[f"top{i + 1}_prob"] = np.where(finite, values[:, i].numpy(), np.nan)
    pred = np.where(finite, logits.argmax(1).numpy() if len(logits) else np.zeros(0, dtype=np.int64), -1)
    return pred.astype(np.int64), pd.DataFrame(columns)


def collect(logits: torch.Tensor, labels: torch.Tensor, image_ids: list[str], classes: list[str],
                     split_counts: pd.DataFrame) -> Predictions:
    """The tables of one trial's test set: `logits` and `labels` in the order of `image_ids`.

    `split_counts` has one row per class index and columns n_train, n_val, n_test.
    """
    pred, top = top_k(logits, classes)
    names = np.asarray(list(classes) + [None], dtype=object)  # index -1 (no finite score) -> no label
    truth = labels.numpy()
    table = pd.concat([pd.DataFrame({"image_id": list(image_ids), "true": truth, "true_label": names[truth],
                                     "pred": pred, "pred_label": names[pred]}), top], axis=1)
    class_table = pd.DataFrame({"class": np.arange(len(classes)), "label": list(classes)})
    class_table = pd.concat([class_table, split_counts.reset_index(drop=True)], axis=1)
    return Predictions(table, class_table, to_float16(logits.float().numpy().reshape(len(truth), len(classes))))


def to_float16(logits: np.ndarray) -> np.ndarray:
    """float16, clipped to its range (±65504) so a huge finite score stays finite; NaN stays NaN."""
    bound = np.finfo(np.float16).max
    return np.clip(logits, -bound, bound).astype(np.float16)


def split_counts(y: np.ndarray, split: np.ndarray, num_classes: int) -> pd.DataFrame:
    """Images per class index in each split (the long tail's x axis is n_train)."""
    return pd.DataFrame({f"n_{s}": np.bincount(y[split == s], minlength=num_classes) for s in ("train", "val", "test")})
