"""The training loop, in plain PyTorch: one epoch of training, evaluation, early stopping, optimisers.

Nothing here knows about Ray, files or collections: a "loader" is any iterable of (inputs, labels)
batches and `prepare` turns a batch's inputs into what the model takes (the trial passes uint8
images and a normaliser, or cached feature vectors and nothing). Convolutions run in channels_last
layout on every device (on CPU, oneDNN's NHWC kernels train efficientnet_lite0 at 128 px 1.4-1.8x faster:
docs/performance.md). On CUDA the forward runs under bf16 autocast; on CPU in float32, so that a
seeded CPU run repeats exactly.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, top_k_accuracy_score
from torch import nn

from study.config import TrialConfig

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Prepare = Callable[[torch.Tensor], torch.Tensor]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    """The global RNG states a training epoch draws from (dropout, stochastic depth), weights_only-safe."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def place(model: nn.Module, device: torch.device) -> nn.Module:
    """The model on `device`, its 4-D weights in channels_last (NHWC): what tensor cores and oneDNN's
    fastest CPU kernels (depthwise convolutions above all) want; other parameters are unchanged."""
    return model.to(device).to(memory_format=torch.channels_last)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(x: torch.Tensor, device: torch.device, prepare: Prepare | None) -> torch.Tensor:
    """A batch of inputs on the device, prepared (normalised), images in channels_last as `place` puts weights."""
    x = x.to(device, non_blocking=True)
    if prepare is not None:
        x = prepare(x)
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def make_optimizer(
    params: Iterable[nn.Parameter], name: str, lr: float, *, momentum: float = 0.0, nesterov: bool = False,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """The paper's optimisers: RMSprop as Keras had it (rho=0.9 is torch's alpha, eps 1e-8), SGD (Nesterov), AdamW."""
    params = [p for p in params if p.requires_grad]
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-8, momentum=momentum, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer={name!r}; choose one of rmsprop, sgd, adamw")


def train_one_epoch(
    model: nn.Module, loader: Batches, optimizer: torch.optim.Optimizer, device: torch.device,
    prepare: Prepare | None = None,
) -> dict[str, float]:
    """One pass over `loader`: loss and accuracy as the epoch saw them (means over images), and its pace."""
    model.train()
    start = time.perf_counter()
    # sums stay on the device: a .item() per step would make the GPU wait for the CPU every batch
    loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    for x, y in loader:
        x, y = to_device(x, device, prepare), y.to(device, non_blocking=True)
        with autocast(device):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    loss_mean, acc = loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1)  # waits for the device
    return {"loss": loss_mean, "acc": acc, "images": seen, "seconds": time.perf_counter() - start}


@torch.no_grad()
def predict(
    model: nn.Module, loader: Batches, device: torch.device, prepare: Prepare | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits float32 on CPU, labels) over `loader`, in eval mode."""
    model.eval()
    logits, labels = [], []
    for x, y in loader:
        with autocast(device):
            logits.append(model(to_device(x, device, prepare)).float().cpu())
        labels.append(y.cpu())
    if not logits:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, float]:
    """loss, acc, bacc (mean class accuracy), f1 (macro), top5; NaN for an empty set.

    top5 is top-min(5, k) accuracy: with k <= 5 classes every label is in the top k, so it is 1.0
    (less the rows a diverged model gave no finite scores for).
    bacc and f1 average over the classes present in y (and, for f1, in the predictions): each
    split holds every class (the split rule of docs/contracts.md), so that is all of them.
    """
    if len(y) == 0:
        return {key: math.nan for key in ("loss", "acc", "bacc", "f1", "top5")}
    # A diverged model (NaN or inf logits) ranks nothing: its rows count as wrong, never as class 0,
    # and the loss stays NaN so the result says what happened.
    finite = torch.isfinite(logits).all(1).numpy()
    pred = np.where(finite, logits.argmax(1).numpy(), -1)
    truth = y.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": expected early in training
        out = {
            "loss": F.cross_entropy(logits, y).item(),
            "acc": float(accuracy_score(truth, pred)),
            "bacc": float(balanced_accuracy_score(truth, pred)),
            "f1": float(f1_score(truth, pred, labels=np.union1d(truth, pred[pred >= 0]), average="macro",
                                 zero_division=0)),
        }
    if num_classes <= 5:
        out["top5"] = float(finite.mean())
    elif finite.any():
        scores = torch.softmax(logits[finite], 1).numpy()
        hits = top_k_accuracy_score(truth[finite], scores, k=5, labels=np.arange(num_classes), normalize=False)
        out["top5"] = float(hits) / len(truth)
    else:
        out["top5"] = 0.0
    return out


def evaluate(model: nn.Module, loader: Batches, num_classes: int, device: torch.device,
             prepare: Prepare | None = None) -> dict[str, float]:
    logits, y = predict(model, loader, device, prepare)
    return classification_metrics(logits, y, num_classes)


def clone_state(state: Any) -> Any:
    """A CPU copy of a (nested) state dict, safe from later training steps and ready for torch.save."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: clone_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(clone_state(v) for v in state)
    return copy.deepcopy(state)


class EarlyStopping:
    """Stop after `patience` epochs in a row without a strictly better monitored value; keep the best weights.

    patience=0 stops at the first epoch that does not improve (None: TrialConfig.patience). The first
    epoch always counts as the best so far, so there is a best state to test even when every value is NaN.
    """

    def __init__(self, mode: str = "min", patience: int | None = None) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}; choose min or max")
        patience = TrialConfig.patience if patience is None else patience
        self.mode, self.patience = mode, patience
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}
        self.bad_epochs = 0

    def _better(self, value: float) -> bool:
        if self.best_value is None or (math.isnan(self.best_value) and not math.isnan(value)):
            return True
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def step(self, value: float, epoch: int, model_state: Callable[[], dict], metrics: dict | None = None) -> bool:
        """Record an epoch's value; returns whether it improved (and then copies `model_state()`)."""
        if self._better(value):
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = clone_state(model_state())
            self.best_metrics = dict(metrics or {})
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "patience": self.patience, "best_value": self.best_value,
                "best_epoch": self.best_epoch, "best_state": self.best_state,
                "best_metrics": dict(self.best_metrics), "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mode, self.patience = state["mode"], state["patience"]
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.best_state, self.best_metrics = state["best_state"], dict(state["best_metrics"])
        self.bad_epochs = state["bad_epochs"]
