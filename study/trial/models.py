"""A trial's model: a registered backbone, the paper's head, and the two transfer modes.

    >>> from study.trial.models import get_model, set_mode
    >>> model = get_model("resnet50", num_classes=3, weights="none")   # or "imagenet", or a checkpoint
    >>> set_mode(model, "off_the_shelf")   # frozen backbone, only model.head trains

Every model is `TransferModel`: `backbone` (image -> pooled feature vector; see study/trial/backbones.py
for each one and what its blocks are) then `head`, one linear layer: the paper's global average
pooling + softmax classifier (the softmax lives in the loss). In off_the_shelf mode the backbone is
frozen and stays in eval mode even when the model trains, so BatchNorm keeps ImageNet's statistics;
fine_tune trains everything, or with `trainable_blocks=N` the head and the backbone's last N blocks.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from study.trial import weights as weights_mod
from study.trial.backbones import BackboneInfo, ModelError, build_backbone, get_info, input_size, list_models, register_model

__all__ = ["MODES", "BackboneInfo", "ModelError", "TransferModel", "backbone_blocks_check", "check_mode", "get_info",
           "get_model", "input_size", "list_models", "register_model", "set_mode"]

MODES = ("off_the_shelf", "fine_tune")


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
        weights_mod.load_checkpoint_backbone(backbone, name, weights)
    return TransferModel(info, backbone, num_classes)


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
