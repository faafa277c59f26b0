"""Row i: the demo's fine-tuned trial under Ray Tune against the fastest bare PyTorch loop found for it.

The trial is the one that dominates the main job: efficientnet_lite0 fine-tuned at 128 px on the
demo collection the runner writes (DEMO_BUDGET.images images; material: 303 train + 41 val), batch 32,
with the CPUs the runner gives a trial by default (one: two trials side by side on 2 cores), run
by the runner's own trainable and Tuner (loop.under_tune). The bare loop (loop.bare_loop) is the
fastest CPU configuration docs/performance.md found for that epoch: channels_last model and
batches, float32, glibc's allocator, the trial's thread count, evaluation without autograd. Both
sides count training plus validation, epoch 1 left out, each side runs twice (bare, Tune, Tune, bare)
and its faster run counts, as in row b.

Beside the ratio, the GFLOP/s each side reaches: forward+backward FLOPs per training image,
counted by torch.utils.flop_counter on the model itself, times images/s (training images over the
epoch's whole time, validation included, so it understates the arithmetic rate a little).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from study.bench.loop import both_sides, fastest
from study.bench.rows import Row, ratio
from study.config import DEMO_BUDGET
from study.data import read_collection, write_demo
from study.trial import engine, models

TARGET_I = 0.9
MODEL, SIZE, TASK = "efficientnet_lite0", 128, "material"  # the demo budget of search_spaces/demo_transfer.py


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    """A convolution's backward: each gradient it computes (input, weight) costs what its forward does.

    torch.utils.flop_counter's own formula leaves `groups` out, and so counts a depthwise convolution's
    backward once per channel over (efficientnet_lite0 at 128 px: 10.3 GFLOP per image instead of 0.5).
    """
    spatial = x_shape[2:] if transposed else grad_out_shape[2:]
    forward = 2 * grad_out_shape[0] * math.prod(w_shape) * math.prod(spatial)  # w_shape holds in/groups
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flops_per_image(model: torch.nn.Module, size: int, batch: int = 2) -> float:
    """Forward + backward FLOPs of one training image (a multiply-add counts 2), as a training step runs them."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    x = torch.zeros(batch, 3, size, size)
    y = torch.zeros(batch, dtype=torch.long)
    mapping = {torch.ops.aten.convolution_backward: conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def row_i_from(bare: list[list[float]], tuned: list[list[float]], flops: float, what: str) -> Row:
    """Tune's images/s over the bare loop's (epochs 2+, each side its faster run), and GFLOP/s of each."""
    b, t = fastest(bare), fastest(tuned)
    return Row("i", "fine-tune images/s of the demo's trial: under Ray Tune / fastest bare loop", ratio(t, b), TARGET_I,
               detail=f"{what}: {t:.1f} vs {b:.1f} img/s over epochs 2-{len(tuned[0])}, the faster of two runs each; "
                      f"{flops / 1e9:.2f} GFLOP per image (forward+backward): {t * flops / 1e9:.1f} vs "
                      f"{b * flops / 1e9:.1f} GFLOP/s")


def row_i(quick: bool = False, threads: int = 1, workdir: Path | None = None) -> Row:
    epochs = 3 if quick else 6  # the demo budget's max_epochs (quick: the first three)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = write_demo(Path(tmp) / "demo", images=DEMO_BUDGET.images, seed=0)
        config = {"collection": "demo", "data_root": str(root), "task": TASK, "model": MODEL, "mode": "fine_tune",
                  "weights": "imagenet", "max_epochs": epochs, "patience": epochs, "image_size": SIZE,
                  "batch_size": 32, "cache_dir": str(Path(tmp) / "cache")}
        collection = read_collection("demo", root)
        paces = both_sides(config, collection, threads, Path(tmp))  # its first bare run fills the image cache
        flops = flops_per_image(engine.place(models.get_model(MODEL, 14, weights="none"), torch.device("cpu")), SIZE)
    what = (f"{MODEL} fine_tune {SIZE} px, {threads} thread(s), demo {TASK}, batch 32, "
            f"Tune checkpointed epochs {paces.checkpointed}")
    return row_i_from(paces.bare, paces.tuned, flops, what)
