"""A trial's saved test logits, and the same model judged on a smaller test: its logits restricted to fewer classes.

Pruning precedes the per-image split, so a rung of the label-count study (top_k classes kept) tests on a
subset of the full rung's test images. The full rung's model answers that easier test by taking, for each
of the rung's images, the best of the rung's classes only:

    >>> saved = read_logits(full_trial_dir)           # Logits(values (n, K), image_ids, labels) or None
    >>> restrict(saved, rung_image_ids, rung_labels)  # the predicted label per rung image

Reads the .npz with numpy alone (study/contract.py's LOGITS_FILE).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.errors import AnalysisError
from study.contract import LOGITS_FILE, final_checkpoint


@dataclass(frozen=True)
class Logits:
    values: np.ndarray  # (n_test, K) float32
    image_ids: np.ndarray  # (n_test,) str, the rows in predictions.csv's order
    labels: np.ndarray  # (K,) str, the classes in output order


def read_logits(trial_dir: Path) -> Logits | None:
    """A finished trial's test logits; None when it saved none (unfinished, or an older artstudy)."""
    folder = final_checkpoint(trial_dir)
    if folder is None or not (folder / LOGITS_FILE).exists():
        return None
    try:
        with np.load(folder / LOGITS_FILE, allow_pickle=False) as data:
            saved = Logits(data["logits"].astype(np.float32), data["image_id"].astype(str), data["label"].astype(str))
    except (OSError, ValueError, KeyError) as exc:
        raise AnalysisError(f"{folder / LOGITS_FILE} cannot be read ({exc}); rerun the trial") from exc
    if saved.values.shape != (len(saved.image_ids), len(saved.labels)):
        raise AnalysisError(f"{folder / LOGITS_FILE} holds logits of shape {saved.values.shape} for "
                            f"{len(saved.image_ids)} images and {len(saved.labels)} classes")
    return saved


def restrict(saved: Logits, image_ids, labels) -> np.ndarray | None:
    """The label each of `image_ids` gets when only `labels` may be answered (argmax over those columns);
    None when the saved logits lack one of the images or one of the classes."""
    rows = {image_id: i for i, image_id in enumerate(saved.image_ids)}
    columns = {label: j for j, label in enumerate(saved.labels)}
    image_ids, labels = [str(i) for i in image_ids], [str(label) for label in labels]
    if any(i not in rows for i in image_ids) or any(label not in columns for label in labels) or not labels:
        return None
    kept = saved.values[np.ix_([rows[i] for i in image_ids], [columns[label] for label in labels])]
    if not len(image_ids):
        return np.asarray([], dtype=object)
    answer = np.asarray(labels, dtype=object)[kept.argmax(axis=1)]
    answer[~np.isfinite(kept).all(axis=1)] = None  # a diverged model's row: no answer, wrong as the trial counts it
    return answer
