"""How a hyperparameter's value reads in a sentence, a legend or a heat map's rows.

Weights are named by what they are, from the trial's `weights_used`: "imagenet", "none" (random
initialisation), or, for a checkpoint a first stage wrote (cross_collection), "stage 1: <collection>/<task>,
trial 00003" rather than the model file's absolute path, which would squeeze a legend to nothing.

    >>> weights_label("/r/cross_collection-source/trainable_1c8a5_00003_3_.../checkpoint_000002/model.pt")
    'stage 1: rijksmuseum/type, trial 00003'
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from study.contract import CHECKPOINT_PREFIX, PARAMS_FILE

SENTENCE = {
    "weights": {"imagenet": "ImageNet weights", "none": "random initialisation"},
    "mode": {"off_the_shelf": "off the shelf", "fine_tune": "fine-tuned"},
    "head_fit": {"optimizer": "a head trained with the optimiser", "logistic": "a logistic-regression head"},
}


def weights_label(value) -> str:
    """imagenet / none as they are; a checkpoint path as its stage's collection/task and trial number."""
    text = "none" if value is None or value != value else str(value)
    if "/" not in text and "\\" not in text:
        return text
    path = Path(text)
    trial = next((p for p in path.parents if p.parent.name and not p.name.startswith(CHECKPOINT_PREFIX)
                  and re.search(r"_\d{5}(_|$)", p.name)), None)
    if trial is None:
        return f"checkpoint {path.name}"
    number = re.search(r"_(\d{5})(_|$)", trial.name).group(1)
    where = ""
    try:
        params = json.loads((trial / PARAMS_FILE).read_text(encoding="utf-8"))
        where = f"{params.get('collection', '?')}/{params.get('task', '?')}, "
    except (OSError, ValueError, AttributeError):
        pass  # the first stage's folder is elsewhere: its trial number alone
    return f"stage 1: {where}trial {number}"


def value_label(key: str, value) -> str:
    """The value as a sentence names it: "ImageNet weights", "fine-tuned", "3 classes kept", "model resnet50"."""
    if key == "weights":
        label = weights_label(value)
        return SENTENCE["weights"].get(label, f"weights from {label}")
    if key in SENTENCE and value in SENTENCE[key]:
        return SENTENCE[key][value]
    if key == "top_k":
        return f"{value} class{'' if str(value) == '1' else 'es'} kept"
    if key in ("model", "task"):
        return str(value)
    return f"{key} = {value}"
