"""A trial's model: a registered backbone, the paper's head, and the two transfer modes.

    >>> from study.trial.models import get_model, set_mode
    >>> model = get_model("resnet50", num_classes=3, weights="none")   # or "imagenet", or a checkpoint
    >>> set_mode(model, "off_the_shelf")   # frozen backbone, only model.head trains
    >>> model = load_model("trial/checkpoint_000003/model.pt")   # a trial's saved model, whole

Every model is `TransferModel`: `backbone` (image -> pooled feature vector; see study/trial/backbones.py
for each one and what its blocks are) then `head`, one linear layer: the paper's global average
pooling + softmax classifier (the softmax lives in the loss). In off_the_shelf mode the backbone is
frozen and stays in eval mode even when the model trains, so BatchNorm keeps ImageNet's statistics;
fine_tune trains everything, or with `trainable_blocks=N` the head and the backbone's last N blocks.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from study.config import MODES
from study.trial import weights as weights_mod
from study.trial.backbones import BackboneInfo, ModelError, build_backbone, get_info, input_size, list_models, register_model

__all__ = ["MODES", "BackboneInfo", "ModelError", "TransferModel", "backbone_blocks_check", "check_mode", "get_info",
           "get_model", "input_size", "list_models", "load_model", "register_model", "set_mode"]


class TransferModel(nn.Module):
    """backbone -> pooled features -> one linear layer. Frozen parts stay in eval mode in `train()`."""

    def __init__(self, info: BackboneInfo, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.info = info
        self.backbone = backbone
        self.head = nn.Linear(info.feature_dim, num_classes)
        self.frozen_modules: list[nn.Module] = []  # a plain list: not registered twice as submodules

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> TransferModel:
        super().train(mode)
        for module in self.frozen_modules:  # BatchNorm statistics of a frozen block never move
            module.training = False
        return self


def get_model(name: str, num_classes: int, weights: str = "none") -> TransferModel:
    """A fresh model: `weights` is "none" (random init), "imagenet", or a checkpoint path (backbone only)."""
    info = get_info(name)
    if weights == "imagenet" and info.imagenet is None:
        raise weights_mod.WeightsNotFound(f"{name} has no ImageNet weights; use weights=none")
    # find the file before building: a missing file fails in milliseconds, not after a big init
    imagenet_file = weights_mod.find_imagenet(info.imagenet, name) if weights == "imagenet" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision/timm chatter about init defaults
        backbone = build_backbone(name)
    if imagenet_file is not None:
        state = weights_mod.load_file(imagenet_file)
        weights_mod.load_into(backbone, state, what=f"ImageNet file {imagenet_file}", drop=info.drop,
                              in_order=info.imagenet.in_order)
    elif weights not in ("none", "imagenet"):
        reference = weights_mod.backbone_reference(weights)
        if reference is None:
            weights_mod.load_checkpoint_backbone(backbone, name, weights)
        else:
            backbone = _referenced_backbone(name, reference, weights)
    return TransferModel(info, backbone, num_classes)


@contextlib.contextmanager
def _rng_kept() -> Iterator[None]:
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _referenced_backbone(name: str, reference: dict, path: str) -> nn.Module:
    """The frozen backbone an off-the-shelf trial's model.pt names instead of holding a copy of it:
    rebuilt from where it came from (ImageNet file, or seeded random init) and checked by hash."""
    from study.trial.features import backbone_fingerprint  # the feature cache's identity of a backbone

    if reference["model"] != name:
        raise weights_mod.WeightsError(f"checkpoint {path} holds a {reference['model']} backbone, "
                                       f"but this trial builds a {name}")
    # weights=none: the trial drew its backbone from the seeded global RNGs; draw it again, leave them as they were
    with _rng_kept():
        random.seed(reference["seed"])
        np.random.seed(reference["seed"] % 2**32)
        torch.manual_seed(reference["seed"])
        backbone = get_model(name, 1, weights=reference["weights"]).backbone
    if backbone_fingerprint(backbone) != reference["fingerprint"]:
        raise weights_mod.WeightsError(
            f"checkpoint {path} names its frozen {name} backbone (weights={reference['weights']}, "
            f"seed {reference['seed']}) instead of holding it, and that backbone is not the same here "
            "(another weights file or torch version); rerun that trial here")
    return backbone


def load_model(path: str | Path) -> TransferModel:
    """A trial's saved model (its model.pt, or the folder holding it) as a whole TransferModel, head included.

    Fine-tuned trials hold every weight; off-the-shelf ones hold the head and a reference to their
    frozen backbone, which is rebuilt here (see `_referenced_backbone`).
    """
    payload = weights_mod.load_file(weights_mod.checkpoint_file(path))
    if not isinstance(payload.get("model"), str) or "num_classes" not in payload:
        raise weights_mod.WeightsError(f"{path} is not a trial's model.pt (no model name and class count)")
    reference = payload.get("backbone_reference")
    name, k = payload["model"], int(payload["num_classes"])
    with _rng_kept():  # building draws an init that the file then replaces: not the caller's draws
        model = get_model(name, k, weights=str(path) if reference else "none")
    state = payload["state_dict"]
    if reference:  # the backbone came with get_model; the file holds the head
        state = {**{f"backbone.{key}": v for key, v in model.backbone.state_dict().items()}, **state}
    weights_mod.load_into(model, state, what=f"model {path}")
    return model


def _in_block(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def check_mode(info: BackboneInfo, mode: str, trainable_blocks: int = 0) -> None:
    if mode not in MODES:
        raise ModelError(f"mode={mode!r}; choose one of {', '.join(MODES)}")
    if trainable_blocks and mode != "fine_tune":
        raise ModelError("trainable_blocks applies to mode=fine_tune only; use 0 with off_the_shelf")
    if trainable_blocks > len(info.blocks):
        raise ModelError(f"trainable_blocks={trainable_blocks}, but {info.name} has {len(info.blocks)} blocks")


def set_mode(model: TransferModel, mode: str, trainable_blocks: int = 0) -> None:
    """off_the_shelf: only the head trains. fine_tune: everything, or the head + the last N blocks."""
    check_mode(model.info, mode, trainable_blocks)
    if mode == "fine_tune" and trainable_blocks == 0:
        model.backbone.requires_grad_(True)
        model.frozen_modules = []
    else:
        blocks = model.info.blocks[-trainable_blocks:] if mode == "fine_tune" else ()
        live = tuple(prefix for block in blocks for prefix in block)
        for name, param in model.backbone.named_parameters():
            param.requires_grad_(_in_block(name, live))
        model.frozen_modules = [m for name, m in model.backbone.named_modules() if not _in_block(name, live)]
    model.head.requires_grad_(True)
    model.train(model.training)


def backbone_blocks_check(model: TransferModel) -> list[str]:
    """Backbone parameters that no block owns (should be none; tests call this for every backbone)."""
    prefixes = tuple(p for block in model.info.blocks for p in block)
    return [n for n, _ in model.backbone.named_parameters() if not _in_block(n, prefixes)]
