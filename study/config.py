"""The trial config: every key a trial understands, its default, and what it means.

A trial's config travels as a flat dict (Ray Tune's param_space, `--set key=value`,
`params.json`); `resolve_config` turns it into a `TrialConfig`, fills the paper's
per-mode defaults and rejects what no trial could run, before any work starts.

    >>> cfg = resolve_config({"model": "vgg19", "mode": "fine_tune"})
    >>> cfg.optimizer, cfg.momentum, cfg.nesterov
    ('sgd', 0.9, True)

This file holds every default of the project, each once: the trial's (TrialConfig), the optimiser's
per mode (PAPER_OPTIMIZER, OPTIMIZER_DEFAULTS), the paper's recipe a study holds fixed (PAPER_RECIPE,
read from TrialConfig), the paper's backbones (PAPER_MODELS), the Optuna sampler (SAMPLERS) and the
demo budget (DEMO_BUDGET). Search spaces, the runner and analysis read them from here; a function
whose argument defaults to one of them takes None and fills it from here. The collection names are
the data layer's readers (study.data.list_collections()). Pure Python on purpose: analysis imports it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_args, get_type_hints

from study.errors import StudyError

MODES = ("off_the_shelf", "fine_tune")
HEAD_FITS = ("optimizer", "logistic")
OPTIMIZERS = ("rmsprop", "sgd", "adamw")
MONITORS = {"val_loss": "min", "val_acc": "max"}  # the monitored metric and which way is better
# Sabatelli et al. (2018)'s backbones in their Table 2's row order, then alexnet (the 2020 reproduction's):
# the grid order of the spaces that compare them and the row order of the report's tables.
PAPER_MODELS = ("xception", "inception_v3", "resnet50", "vgg19", "alexnet")
SAMPLERS = ("qmc", "tpe")  # Optuna spaces: qmc (quasi-random, the default) | tpe


@dataclass(frozen=True)
class TrialConfig:
    # --- what is learned from what
    collection: str = "demo"  # a name from study.data.list_collections() (docs/contracts.md, Collections)
    data_root: str = ""  # the collection's folder; "" with collection=demo: the embedded demo, made on first use
    task: str = "material"  # one labelling of the collection: material/type/artist, an iMet category, ...
    model: str = "resnet50"  # a name from study.trial.models.list_models()
    mode: str = "off_the_shelf"  # off_the_shelf: frozen backbone, new head; fine_tune: every layer trains
    weights: str = "imagenet"  # imagenet | none (random init) | path to an earlier trial's checkpoint
    # optimizer: the head trains epoch by epoch with `optimizer` and early stopping (the paper's);
    # logistic: off_the_shelf only, multinomial logistic regression on the cached features with its L2
    # strength chosen on val (Kornblith et al. 2019; study/trial/logistic.py), in one step
    head_fit: str = "optimizer"
    # --- optimisation. The optimiser and its momentum depend on the mode, so they cannot be one value
    # here: None = the paper's choice for the trial's mode (PAPER_OPTIMIZER), which resolve_config fills
    # in; a resolved config never holds None.
    optimizer: str | None = None  # rmsprop | sgd | adamw
    lr: float = 1e-3  # the paper's, for both modes and every backbone (lr_sweep asks whether it should be)
    momentum: float | None = None  # sgd momentum (rmsprop: its momentum term)
    nesterov: bool | None = None  # sgd only
    weight_decay: float = 0.0  # the paper used none
    batch_size: int = 32  # the paper's
    max_epochs: int = 100  # an upper bound: the paper trains until early stopping ends it
    patience: int = 7  # epochs without improvement of `monitor` before stopping
    monitor: str = "val_loss"  # val_loss | val_acc; the best epoch by it is the one tested
    # --- input
    image_size: int = 0  # input side in pixels; 0 = the backbone's own (224; 299 for inception_v3 and xception)
    augment: bool = False  # random crop + flip; the paper used none. Bypasses the feature cache
    trainable_blocks: int = 0  # fine_tune only the last N blocks of the backbone; 0 = all of them
    # --- labels and split (docs/contracts.md, Splits and label pruning)
    min_per_class: int = 0  # keep classes with at least this many images; 0 = off
    top_k: int = 0  # keep the K most frequent classes; 0 = off
    split: str = "0.8,0.1,0.1"  # train,val,test fractions, per class
    split_seed: int = 0  # which split; fixed while `seed` varies, as in the paper
    seed: int = 0  # initialisation and batch order
    # --- plumbing
    feature_cache: bool = True  # off_the_shelf without augment: train the head on stored backbone features
    cache_dir: str = ""  # image, feature and demo caches; "" = $ARTSTUDY_CACHE or ~/.cache/artstudy
    num_workers: int = 0  # DataLoader worker processes; 0 reads in the trial's own process

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def split_fractions(self) -> tuple[float, float, float]:
        return parse_split(self.split)

    @property
    def monitor_mode(self) -> str:
        return MONITORS[self.monitor]


# The paper's optimiser for each mode (Sabatelli et al. 2018, section 3): RMSprop with Keras'
# rho=0.9 (torch calls it alpha) off the shelf; SGD with Nesterov momentum when fine-tuning.
PAPER_OPTIMIZER: dict[str, str] = {"off_the_shelf": "rmsprop", "fine_tune": "sgd"}
# What an optimiser leaves open, filled when the config leaves it None (the paper's: SGD's Nesterov
# momentum 0.9; RMSprop without momentum).
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "rmsprop": {"momentum": 0.0, "nesterov": False},
    "sgd": {"momentum": 0.9, "nesterov": True},
    "adamw": {"momentum": 0.0, "nesterov": False},
}

CONFIG_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialConfig))

# The paper's training recipe, which a study holds fixed unless it varies a key: TrialConfig's own
# defaults for these keys (optimizer/momentum/nesterov None: the paper's choice for each trial's mode).
PAPER_RECIPE_KEYS = ("weights", "optimizer", "momentum", "nesterov", "lr", "weight_decay", "batch_size",
                     "max_epochs", "patience", "monitor", "image_size", "augment", "trainable_blocks",
                     "min_per_class", "top_k", "split", "split_seed", "seed")
PAPER_RECIPE: dict[str, Any] = {key: getattr(TrialConfig, key) for key in PAPER_RECIPE_KEYS}



@dataclass(frozen=True)
class DemoBudget:
    """The demo budget (no --data: the synthetic demo collection on a laptop CPU): the demo collection's
    size and the config values that replace the paper's budget, sized so the whole `grid_paper` (report
    included) ends in minutes on two CPU cores.

    Paper backbones (`values`): fine-tuning dominates. On one core an epoch over ~300 training images at
    these sizes costs ~15 s (vgg19 at 32 px) to ~25 s (xception at its minimum 71 px), so 15 fine-tuned
    trials x 3 epochs is ~7 core-minutes. Hence 400 images (the demo generator's long-tailed classes
    still leave 11-18 classes a task), 32 px raised to each backbone's minimum input size (alexnet 63,
    xception 71, inception_v3 75), at most 3 epochs and a patience of 1.

    efficientnet_lite0 (`per_model`), whose ImageNet weights install with artstudy and which the demo runs
    where the paper's files are missing (search_spaces/demo_transfer.py), gets its own values:
    - 128 px: ImageNet features need images that hold ImageNet-sized structure. A logistic probe on the
      400-image demo (`python -m study.bench.probe --sizes 96 128 160`, figures in that file) loses ~10
      points on `type` at 96 px and gains at most 2 at 160 px, which costs 1.6x.
    - 6 epochs, patience 2: fine-tuning at the paper's SGD lr 1e-3 takes ~10 steps an epoch here, and
      after 3 epochs an ImageNet start is still at the majority class on `type` (val 0.46); it passes
      0.6 by epoch 5 and 0.7 by epoch 10 (one trial, val_loss still falling). An epoch costs ~4 s on
      2 cores (~11 s per trial with two trials sharing them), so 6 keeps the whole grid_paper demo
      under 5 minutes; early stopping ends a flat trial after 2 epochs without progress.
    efficientnet_lite1 and _lite2 (packaged too; the demo runs them off the shelf only) take the same
    values: the same 128 px input for the three, so the ImageNet-top-1-against-transfer figure compares
    networks, not input sizes (their own 240 and 260 px would cost ~3.5x and ~4x lite0's feature pass).
    """

    images: int = 400  # the demo collection (study.data.ensure_demo: written once into the cache folder)
    values: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({"image_size": 32, "max_epochs": 3, "patience": 1}))
    per_model: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType(
        {model: MappingProxyType({"image_size": 128, "max_epochs": 6, "patience": 2})
         for model in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")}))


DEMO_BUDGET = DemoBudget()
# Each key's type, as the annotations name them ("str | None" read as str | None)
_TYPES: dict[str, Any] = get_type_hints(TrialConfig)


class ConfigError(StudyError, ValueError):
    """A config no trial can run; the message says what would be valid."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("ARTSTUDY_CACHE") or Path.home() / ".cache" / "artstudy")


def parse_split(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in str(text).split(","))
    except ValueError:
        parts = ()
    if (len(parts) != 3 or not all(math.isfinite(p) and p >= 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6
            or parts[0] <= 0):
        raise ConfigError(f"split={text!r}: give three fractions train,val,test that sum to 1, "
                          f"e.g. {TrialConfig.split}")
    return parts  # type: ignore[return-value]


# What a command line (or an old params.json) writes for "no value": only keys that may be None
# (the per-mode optimiser settings) read it so; for any other key it is an ordinary string, as
# `weights=none` (random initialisation) must be.
NULLS = ("none", "null")
# Seeds feed numpy (which takes 0 .. 2**32-1) and torch generators seeded with seed * 1_000_003 + epoch
# (study/trial/transforms.py), which must stay below 2**63.
SEED_MAX = 2**32 - 1
_ALLOWED = {int: "a whole number, e.g. 3", float: "a finite number, e.g. 0.001",
            bool: "true or false (also 1/0, yes/no, on/off)", str: "text"}


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            value = float(text)  # "1e3" is a whole number written as a float
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError  # 1.5, nan, inf, and 1e400 (which float() reads as inf)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number):
        raise ValueError  # nan and inf train nothing: refused here, not after a NaN first epoch
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError


def coerce_value(key: str, value: Any) -> Any:
    """Turn `value` (often a string from the command line) into `key`'s type, or raise ConfigError
    with one line naming the key, the value and what the key takes."""
    if key not in _TYPES:
        raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(CONFIG_KEYS)}")
    kinds = get_args(_TYPES[key]) or (_TYPES[key],)  # (float, NoneType) for `float | None`
    nullable = type(None) in kinds
    base = next(kind for kind in kinds if kind is not type(None))
    if nullable and isinstance(value, str) and value.strip().lower() in NULLS:
        value = None
    if value is None:
        if nullable:
            return None
        raise ConfigError(f"{key} cannot be empty: give {_ALLOWED[base]}")
    try:
        if base is bool:
            return _to_bool(value)
        if base is int:
            return _to_int(value)
        if base is float:
            return _to_float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key}={value!r} is not a valid {base.__name__}: give {_ALLOWED[base]}") from None


def resolve_config(overrides: dict[str, Any] | None = None) -> TrialConfig:
    """Defaults, then the paper's per-mode choices, then `overrides`; checked and typed."""
    overrides = dict(overrides or {})
    values = {key: coerce_value(key, value) for key, value in overrides.items()}
    mode = values.get("mode", TrialConfig.mode)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r}; choose one of {', '.join(MODES)}")
    optimizer = values.get("optimizer") or PAPER_OPTIMIZER[mode]
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer={optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    fill = OPTIMIZER_DEFAULTS[optimizer]
    values["optimizer"] = optimizer
    for key in ("momentum", "nesterov"):
        if values.get(key) is None:
            values[key] = fill[key]
    cfg = TrialConfig(**values)
    _check(cfg)
    return cfg


def _check(cfg: TrialConfig) -> None:
    if cfg.monitor not in MONITORS:
        raise ConfigError(f"monitor={cfg.monitor!r}; choose one of {', '.join(MONITORS)}")
    parse_split(cfg.split)
    if cfg.head_fit not in HEAD_FITS:
        raise ConfigError(f"head_fit={cfg.head_fit!r}; choose one of {', '.join(HEAD_FITS)}")
    if cfg.head_fit == "logistic" and (cfg.mode != "off_the_shelf" or cfg.augment or not cfg.feature_cache):
        raise ConfigError("head_fit=logistic fits a head on cached features: it needs mode=off_the_shelf, "
                          "augment=false and feature_cache=true")
    for key in ("lr",):
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} must be positive")
    for key in ("batch_size", "max_epochs"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} must be at least 1")
    for key in ("weight_decay", "momentum", "patience", "image_size", "trainable_blocks", "min_per_class", "top_k",
                "num_workers"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} cannot be negative")
    for key in ("seed", "split_seed"):
        if not 0 <= getattr(cfg, key) <= SEED_MAX:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} must be between 0 and {SEED_MAX}")
    if cfg.top_k == 1:
        raise ConfigError("top_k=1 leaves one class: nothing to classify; use 0 (off) or at least 2")
    if cfg.nesterov and cfg.optimizer == "sgd" and not cfg.momentum:
        raise ConfigError("nesterov=true needs momentum > 0")
    if cfg.collection != "demo" and not cfg.data_root:
        raise ConfigError(f"collection={cfg.collection} needs data_root (the collection's folder)")
