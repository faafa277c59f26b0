"""The demo's plan for a study of ImageNet backbones: what this machine can transfer, and nothing dressed up.

Without the paper's ImageNet files, grid_paper and label_pruning on the demo run efficientnet_lite0 (whose
weights install with artstudy) with ImageNet weights and from random initialisation, and leave the
paper's backbones out, naming them; with the files, the paper's backbones run as declared.
"""

import pytest

from search_spaces import Context, get_space
from search_spaces.registry import PAPER_MODELS


def context(present, **kw) -> Context:
    return Context(count_classes=lambda collection, root, task, m, split: 12, has_imagenet=lambda m: m in present, **kw)


def configs(name, ctx):
    (stage,) = get_space(name).stages(ctx)
    return stage, stage.trial_configs()


def test_a_fresh_machine_runs_the_packaged_backbones_and_skips_the_rest():
    stage, trials = configs("grid_paper", context(present=()))
    assert stage.skipped_models == tuple(sorted(PAPER_MODELS))
    lite0 = [t for t in trials if t["model"] == "efficientnet_lite0"]
    assert {t["image_size"] for t in trials} == {128}  # where ImageNet features work, not 32 px
    assert {(t["max_epochs"], t["patience"]) for t in trials} == {(6, 2)}
    for task in ("material", "type", "artist"):
        for mode in ("off_the_shelf", "fine_tune"):
            cell = [t for t in lite0 if t["task"] == task and t["mode"] == mode]
            heads = {"optimizer", "logistic"} if mode == "off_the_shelf" else {"optimizer"}
            # every cell has its ImageNet trial and its random-init twin, for each head
            assert sorted((t["weights"], t["head_fit"]) for t in cell) == sorted(
                (w, h) for w in ("imagenet", "none") for h in heads)
    assert len(lite0) == 18
    # lite1 and lite2: off the shelf only, ImageNet weights, both heads, every task: 2 x 2 x 3
    ladder = [t for t in trials if t["model"] != "efficientnet_lite0"]
    assert sorted({(t["model"], t["mode"], t["weights"]) for t in ladder}) == [
        ("efficientnet_lite1", "off_the_shelf", "imagenet"), ("efficientnet_lite2", "off_the_shelf", "imagenet")]
    assert sorted((t["model"], t["task"], t["head_fit"]) for t in ladder) == sorted(
        (m, task, h) for m in ("efficientnet_lite1", "efficientnet_lite2") for task in ("material", "type", "artist")
        for h in ("optimizer", "logistic"))
    assert len(trials) == 30


def test_paper_backbones_whose_weights_are_here_run_as_declared():
    stage, trials = configs("grid_paper", context(present=("resnet50", "alexnet")))
    assert stage.skipped_models == ("inception_v3", "vgg19", "xception")
    paper = [t for t in trials if not t["model"].startswith("efficientnet_lite")]
    assert {t["model"] for t in paper} == {"resnet50", "alexnet"} and len(paper) == 2 * 2 * 3
    # the paper backbones keep the demo budget they always had
    assert {(t["weights"], t["head_fit"], t["image_size"], t["max_epochs"]) for t in paper} == {
        ("imagenet", "optimizer", 32, 3)}
    stage, trials = configs("grid_paper", context(present=PAPER_MODELS))
    assert stage.skipped_models == () and len(trials) == 30 + 30


@pytest.mark.parametrize("pin", [{"model": "resnet50"}, {"weights": "none"}])
def test_pinning_model_or_weights_plans_the_space_as_declared(pin):
    stage, trials = configs("grid_paper", context(present=(), overrides=pin))
    assert stage.skipped_models == () and len(trials) == (6 if "model" in pin else 30)


def test_label_pruning_on_the_demo_includes_the_imagenet_backbone():
    stage, trials = configs("label_pruning", context(present=()))
    # fine-tuning sets its cost: the random-init twin runs off the shelf only
    assert sorted({(t["model"], t["mode"], t["weights"]) for t in trials}) == [
        ("efficientnet_lite0", "fine_tune", "imagenet"), ("efficientnet_lite0", "off_the_shelf", "imagenet"),
        ("efficientnet_lite0", "off_the_shelf", "none")]
    assert sorted({t["top_k"] for t in trials}, reverse=True) == [12, 6, 3, 2] and len(trials) == 4 * 3


def test_a_real_collection_plans_the_papers_grid():
    stage, trials = configs("grid_paper", context(present=(), demo=False))
    assert stage.skipped_models == () and {t["model"] for t in trials} == set(PAPER_MODELS) and len(trials) == 30


def test_lr_sweep_on_a_fresh_machine_tunes_the_packaged_backbones_from_imagenet():
    stage, trials = configs("lr_sweep", context(present=()))
    cells = sorted((c["model"], c["mode"]) for c in stage.cell_list())
    assert cells == [("efficientnet_lite0", "fine_tune"), ("efficientnet_lite0", "off_the_shelf"),
                     ("efficientnet_lite1", "off_the_shelf"), ("efficientnet_lite2", "off_the_shelf")]
    assert {t["weights"] for t in trials} == {"imagenet"} and {t["image_size"] for t in trials} == {128}
    assert len(trials) == 4 * 3  # 3 Optuna samples a cell on the demo


def test_cross_collection_on_a_fresh_machine_transfers_the_packaged_backbone():
    ctx = context(present=(), source={"collection": "demo"}, demo_root=lambda seed: f"/demo{seed}")
    source, target = get_space("cross_collection").stages(ctx)
    assert source.skipped_models == target.skipped_models == tuple(sorted(PAPER_MODELS))
    assert [(t["model"], t["weights"], t["image_size"]) for t in source.trial_configs()] == [
        ("efficientnet_lite0", "imagenet", 128)]
    assert sorted((t["model"], t["mode"], t["weights"]) for t in target.trial_configs()) == sorted(
        ("efficientnet_lite0", mode, w) for mode in ("off_the_shelf", "fine_tune") for w in ("imagenet", "source"))
    assert target.max_t == 6 + 1
