"""A backbone's starting weights, read: ImageNet files on disk, or an earlier trial's checkpoint.

Finding an ImageNet file (and the errors when it is missing) is study/trial/imagenet_files.py, which
needs no torch; this module reads what it finds. Nothing here downloads during a trial: the one
command that downloads is study/weights.py:

    python -m study.weights fetch resnet50 vgg19 ...   # on a machine with internet; --dir DIR to choose
    python -m study.weights list                       # which backbones' ImageNet files are present

Every file is read with `torch.load(..., weights_only=True)` (or safetensors): a checkpoint can
hold tensors, dicts, lists, numbers and strings, never an object whose unpickling runs code.
A file written by another implementation of the same network (EfficientNet-PyTorch's names for
timm's efficientnet_lite0) is mapped onto the backbone in order, every pair checked by shape and by
kind (weight, bias, running_mean, ...), before the strict load every file goes through.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from study.contract import MODEL_FILE
from study.trial.imagenet_files import (WEIGHTS_DIR_ENV, ImagenetSource, WeightsError, WeightsNotFound, find_imagenet,
                                        search_dirs)

__all__ = ["WEIGHTS_DIR_ENV", "ImagenetSource", "WeightsError", "WeightsNotFound", "backbone_reference",
           "checkpoint_file", "checkpoint_origin", "find_imagenet", "load_checkpoint_backbone", "load_file",
           "load_into", "read_checkpoint", "rename_in_order", "search_dirs"]


def load_file(path: str | Path) -> dict:
    """A state dict or checkpoint payload from disk, refusing anything but plain data."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as load_safetensors

        return load_safetensors(str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if not found:
            raise WeightsError(f"{path} is not a readable torch checkpoint") from None
        raise WeightsError(
            f"{path} holds a pickled {found.group(1)}, more than tensors and plain data: it will not be "
            "unpickled (torch.load weights_only=True); save a state dict instead"
        ) from None
    except (RuntimeError, OSError, EOFError) as err:
        raise WeightsError(f"{path} is not a readable torch checkpoint: {err}") from None
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path} holds a {type(data).__name__}, not a state dict or checkpoint")
    return dict(data)


def checkpoint_file(path: str | Path) -> Path:
    """The model.pt that `weights=PATH` means: the file itself, or the one in the folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise WeightsError(f"weights folder {path} holds no {MODEL_FILE}; name the checkpoint file itself")
        path = path / MODEL_FILE
    if not path.is_file():
        raise WeightsError(f"weights={str(path)!r} is neither 'imagenet', 'none' nor an existing checkpoint file")
    return path


def backbone_reference(path: str | Path) -> dict | None:
    """What an off-the-shelf trial's model.pt says its frozen backbone is (model, weights, seed,
    fingerprint), when it holds the head only; None for a file that holds its backbone."""
    data = load_file(checkpoint_file(path))
    reference = data.get("backbone_reference")
    if reference is None:
        return None
    if not isinstance(reference, Mapping) or not {"model", "weights", "seed", "fingerprint"} <= set(reference):
        raise WeightsError(f"{path} has a backbone_reference without model, weights, seed and fingerprint")
    return dict(reference)


def read_checkpoint(path: str | Path) -> tuple[str | None, dict[str, torch.Tensor]]:
    """(backbone name or None when the file does not say, backbone state dict) from a checkpoint.

    Accepts an earlier trial's payload ({"model", "state_dict", ...}; the file or a folder holding
    model.pt) or a raw state dict, of the whole model ("backbone.*" and "head.*") or of the backbone.
    """
    path = checkpoint_file(path)
    data = load_file(path)
    name = data.get("model") if isinstance(data.get("model"), str) else None
    state = data.get("state_dict", data)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} is neither a trial checkpoint (with a state_dict) nor a state dict of tensors")
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return name, dict(state)


def checkpoint_origin(path: str | Path) -> str:
    """What a checkpoint is, in words, for a trial's `weights_used`: never a path that may move or differ per machine.

    A trial's model.pt records what it was trained on (`origin`, study/trial/run_trial.py): "trained on
    rijksmuseum/type from imagenet, trial 3f2a1_00003". A file without it (a raw state dict, an older
    artstudy) is named by its trial's checkpoint folder and file: "checkpoint checkpoint_000002/model.pt".
    """
    file = checkpoint_file(path)
    origin = load_file(file).get("origin")
    if isinstance(origin, Mapping) and origin.get("trained_on"):
        words = f"trained on {origin['trained_on']}"
        if origin.get("started_from"):
            words += f" from {origin['started_from']}"
        return words + (f", trial {origin['trial']}" if origin.get("trial") else "")
    return f"checkpoint {file.parent.name}/{file.name}"


def _kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]  # weight, bias, running_mean, running_var, num_batches_tracked


def rename_in_order(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], *,
                    what: str) -> dict[str, torch.Tensor]:
    """`state`'s tensors under `own`'s names, paired in order; every pair must agree in kind and shape.

    For a file written by another implementation of the same network, which registers the same
    tensors in the same order under other names. One tensor out of place (a different network, a
    different width, a missing layer) breaks a pair, and the message names the first that breaks.
    """
    if len(state) != len(own):
        raise WeightsError(f"{what} does not fit this backbone: it holds {len(state)} tensors, the backbone {len(own)}")
    renamed = {}
    for i, ((theirs, tensor), (ours, target)) in enumerate(zip(state.items(), own.items())):
        if _kind(theirs) != _kind(ours) or tuple(tensor.shape) != tuple(target.shape):
            raise WeightsError(
                f"{what} does not fit this backbone: its tensor {i} {theirs} {tuple(tensor.shape)} "
                f"does not match {ours} {tuple(target.shape)}"
            )
        renamed[ours] = tensor
    return renamed


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], *, what: str, drop: tuple[str, ...] = (),
              in_order: bool = False) -> None:
    """Load `state` strictly into `module`, after dropping keys under `drop` (a classifier it does not have).

    `drop` names keys as the file does; with `in_order`, what is left is renamed to the module's own
    names first (rename_in_order).
    """
    state = {k: v for k, v in state.items() if not k.startswith(drop)}
    own = module.state_dict()
    if in_order:
        state = rename_in_order(state, own, what=what)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {len(keys)} (e.g. {keys[0]})"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise WeightsError(f"{what} does not fit this backbone ({detail})")
    module.load_state_dict(state)


def load_checkpoint_backbone(backbone: nn.Module, model: str, path: str | Path) -> None:
    """Start `backbone` (a `model`) from an earlier checkpoint's backbone; its head is dropped."""
    name, state = read_checkpoint(path)
    if name is not None and name != model:
        raise WeightsError(f"checkpoint {path} holds a {name} backbone, but this trial builds a {model}")
    load_into(backbone, state, what=f"checkpoint {path}")
