"""The experiment folder's contract: every name a trial writes and a report reads, declared once.

    <storage>/<name>/                  DEFAULT_STORAGE unless --storage; the runner writes STUDY_FILE
        <trial>/                       Ray Tune: PARAMS_FILE, RESULT_FILE (EPOCH_METRICS, then FINAL_METRICS),
                                       PROGRESS_FILE
            checkpoint_*/              STATE_FILE (an epoch's), or the final one: MODEL_FILE, FINAL_FILE,
                                       PREDICTIONS_FILE, CLASSES_FILE, LOGITS_FILE
        report/                        REPORT_DIR, what `python -m analysis.report` writes

The trial layer writes these names, the runner adds study.json (`StudyRecord`), analysis reads them
back: each imports them from here, so a name or a metric cannot change in one layer only
(docs/contracts.md, "The experiment folder"). Pure Python on purpose: every layer imports it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.errors import StudyError

DEFAULT_STORAGE = "artstudy-results"  # where experiments go unless --storage says otherwise
STUDY_FILE = "study.json"  # the runner's record of the experiment (StudyRecord)
PARAMS_FILE = "params.json"  # Ray Tune: the trial's config
RESULT_FILE = "result.json"  # Ray Tune: one JSON line per report
PROGRESS_FILE = "progress.csv"  # Ray Tune: the same reports as CSV (keys of the first report only)
CHECKPOINT_PREFIX = "checkpoint_"  # Ray Tune's checkpoint folders: checkpoint_000000, checkpoint_000001, ...
STATE_FILE = "state.pt"  # an epoch checkpoint: the trial's whole training state, what a resumed trial starts from
MODEL_FILE = "model.pt"  # the final checkpoint: the best epoch's model, which weights=<path> loads
FINAL_FILE = "final.json"  # the final checkpoint: the trial's final report (FINAL_METRICS); marks it final
PREDICTIONS_FILE = "predictions.csv"  # the final checkpoint: one row per test image (study/trial/predictions.py)
CLASSES_FILE = "classes.csv"  # the final checkpoint: one row per class (study/trial/predictions.py)
# The final checkpoint: every test logit, so analysis can restrict a model to a subset of its classes
# (label_pruning's "same model, easier test"). An .npz without pickles: `logits` float16 (n_test, K),
# `image_id` (predictions.csv's rows, in order), `label` (the K classes in the model's output order).
LOGITS_FILE = "test_logits.npz"
REPORT_DIR = "report"  # the report's folder inside the experiment folder

# What each epoch reports (a line of result.json), in this order.
EPOCH_METRICS: dict[str, str] = {
    "epoch": "the epoch's number, from 1",
    "train_loss": "mean cross-entropy over the training images",
    "train_acc": "accuracy on the training images, during the epoch",
    "val_loss": "cross-entropy on the validation images after the epoch",
    "val_acc": "accuracy on the validation images",
    "val_bacc": "balanced accuracy on the validation images (mean per-class accuracy, the Challenge's MCA)",
    "epoch_time_s": "seconds the epoch took, training and validation",
    "train_images_per_s": "training images per second of the training pass",
}
# What a head_fit=logistic trial's one step reports besides EPOCH_METRICS.
LOGISTIC_METRICS: dict[str, str] = {
    "head_c": "the inverse L2 strength of the logistic head, chosen on val",
}
# The validation metrics of the best epoch, which the final report repeats.
BEST_EPOCH_METRICS = ("val_loss", "val_acc", "val_bacc")
# What the trial's last report (and its final.json) holds.
FINAL_METRICS: dict[str, str] = {
    "best_epoch": "the epoch whose weights were tested: the best by `monitor`",
    "test_acc": "accuracy on the test images",
    "test_bacc": "balanced accuracy on the test images",
    "test_f1": "macro F1 on the test images",
    "test_top5": "top-5 accuracy on the test images",
    "num_classes": "classes after pruning",
    "n_train": "training images",
    "n_val": "validation images",
    "n_test": "test images",
    "weights_used": "where the backbone's weights came from: imagenet, none, the demo's fallback, or a "
                    "checkpoint named by what it was trained on (study.trial.weights.checkpoint_origin), never by its path",
    "val_loss": "the best epoch's val_loss",
    "val_acc": "the best epoch's val_acc",
    "val_bacc": "the best epoch's val_bacc",
    "imagenet_top1": "the backbone's ImageNet-1k top-1 (%) from its weights' metadata; null unless weights_used "
                     "is imagenet",
    "epochs_run": "epochs trained",
    "stopped_early": "whether early stopping (or divergence) ended training before max_epochs",
    "diverged": "whether the training loss stopped being finite",
    "feature_cache": "hit, miss, or why the feature cache was not used",
    "features_time_s": "seconds running the frozen backbone over images the feature cache lacked (0 on a hit)",
    "test_time_s": "seconds of the test pass",
    "resolved_config": "the trial's config as it ran: defaults filled in, image_size resolved",
}


class ContractError(RuntimeError):
    """A layer broke the contract: a bug in artstudy, not bad input, so it keeps its traceback."""


class StudyRecordError(StudyError):
    """A study.json that is not a record of an experiment."""


def checked(names: Mapping[str, str], values: dict[str, Any], optional: Collection[str] = ()) -> dict[str, Any]:
    """`values` once its keys are `names` (and perhaps some of `optional`): a metric reported but not declared
    here, or declared but not reported, fails at once instead of reaching a report that lacks it."""
    missing = [k for k in names if k not in values]
    extra = [k for k in values if k not in names and k not in optional]
    if missing or extra:
        raise ContractError(f"reported metrics differ from study/contract.py: missing {missing}, undeclared {extra}")
    return values


def final_checkpoint(trial_dir: str | Path, files: Any = None) -> Path | str | None:
    """A trial's final checkpoint folder (the newest `checkpoint_*` holding final.json), or None while it runs.

    The trial folder itself is the record: after a crash, Ray's experiment state can lag behind it.
    `files` looks at storage other than the local disk (the runner passes one over Ray's pyarrow
    filesystem): `subfolders(path) -> names`, `is_file(path) -> bool`, `join(folder, name) -> path`; the
    folder found is then that path (a string), and on the local disk a Path."""
    files = files or _LocalFiles()
    names = sorted((n for n in files.subfolders(trial_dir) if n.startswith(CHECKPOINT_PREFIX)), reverse=True)
    for name in names:  # newest first: the names are zero-padded
        folder = files.join(trial_dir, name)
        if files.is_file(files.join(folder, FINAL_FILE)):
            return folder
    return None


class _LocalFiles:
    def subfolders(self, path: str | Path) -> list[str]:
        path = Path(path)
        return [p.name for p in path.iterdir() if p.is_dir()] if path.is_dir() else []

    def is_file(self, path: Path) -> bool:
        return path.is_file()

    def join(self, folder: str | Path, name: str) -> Path:
        return Path(folder, name)


@dataclass(frozen=True)
class StudyRecord:
    """study.json: what the runner records about one stage of an experiment (study/run/experiment.py builds it).

    Every field may be missing from a file (an older or hand-written study.json); a missing field is None
    and is left out when written."""

    space: str | None = None  # the search space's name
    question: str | None = None  # the question the space asks
    roles: dict[str, list[str]] | None = None  # scientific, nuisance, fixed: config keys
    metric: str | None = None  # what chooses between nuisance settings
    mode: str | None = None  # min | max, for `metric`
    command: str | None = None  # the command line, as a user would type it
    argv: list[str] | None = None  # the same, as arguments (--resume reruns them)
    versions: dict[str, str] | None = None  # artstudy, python and the libraries that decide the numbers
    collection: dict[str, Any] | None = None  # the collection's summary (`python -m study.data summary --json`)
    budget: str | None = None  # demo | full
    seeds: int | None = None  # --seeds
    created: str | None = None  # when the experiment was first started (ISO 8601)
    stage: str | None = None  # the stage's name; main for one-stage spaces
    search: str | None = None  # grid | optuna
    scheduler: str | None = None  # fifo | asha
    options: dict[str, Any] | None = None  # the options that define the experiment (--resume reads them)
    sampler: str | None = None  # optuna spaces: qmc | tpe
    distributions: dict[str, str] | None = None  # optuna spaces: each searched key's distribution
    bounds: dict[str, Any] | None = None  # optuna spaces: {key: {"kind": "loguniform", "low", "high"}}, the ranges
    source_experiment: str | None = None  # a second stage: the folder of the stage it depends on
    resumed: list[str] | None = None  # when --resume continued it
    finished: str | None = None  # when its last fit() returned
    trials: dict[str, Any] | None = None  # planned, reported, final, errored, weights_used (counts)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this artstudy does not know, kept as read

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**{k: v for k, v in out.items() if v is not None}, **self.extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> StudyRecord:
        if not isinstance(data, dict):
            raise StudyRecordError(f"study.json holds a JSON {_JSON_NAMES.get(type(data), type(data).__name__)}, "
                                   "not an object")
        known = {}
        for name, kind in _FIELD_TYPES.items():
            value = data.get(name)
            if value is not None and not _is(value, kind):
                found = _JSON_NAMES.get(type(value), type(value).__name__)
                raise StudyRecordError(f"study.json's {name!r} is a JSON {found} where {_JSON_NAMES[kind]} belongs")
            known[name] = value
        return cls(**known, extra={k: v for k, v in data.items() if k not in _FIELD_TYPES})

    @classmethod
    def from_json(cls, text: str) -> StudyRecord:
        try:
            data = json.loads(text)
        except ValueError as err:
            raise StudyRecordError(f"study.json is not JSON ({err})") from None
        return cls.from_dict(data)


_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean",
               type(None): "null"}


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _json_type(hint: Any) -> type:
    """The JSON type a field's annotation asks for: `dict[str, str] | None` -> dict."""
    inner = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    return typing.get_origin(inner[0]) or inner[0]


_FIELD_TYPES = {name: _json_type(hint) for name, hint in typing.get_type_hints(StudyRecord).items()
                if name != "extra"}
