"""The report's sections that need the trials' saved test predictions or ImageNet accuracies.

`extend_plan(exp, blocks)` adds them to the blocks of `report.plan`: Table 2 with the paired
significance of fine-tune against off-the-shelf, the pairwise backbone comparisons, the long tail
(per-class accuracy against training-set size, a figure per task), the most confused classes (and
the confusion matrices where a task has few classes), and ImageNet accuracy against transfer.
Experiments written before trials saved predictions get none of these, and the report says why.
"""

from __future__ import annotations

from analysis.blocks import Bullets, Call, FigureBlock, Heading, Para, Ref, TableBlock
from analysis.findings import findings_frame
from analysis.load import Experiment
from analysis.per_class import MATRIX_MAX_CLASSES
from analysis.predictions import best_trials
from analysis.tables import TASK_ORDER, ordered
from analysis.transfer import MIN_BACKBONES, enough_backbones


def _selection(exp: Experiment) -> dict:
    return {"scientific": Ref("roles.scientific"), "nuisance": Ref("roles.nuisance"), "metric": Ref("metric"),
            "mode": Ref("mode")}


def findings_blocks(exp: Experiment) -> list:
    """The Findings section: one sentence per paired comparison, then their table."""
    blocks: list = [Heading("Findings")]
    trials = exp.trials
    if not len(trials) or not (trials["status"] == "finished").any():
        return blocks + [Para("_No trial has finished yet: nothing to compare._")]
    frame = findings_frame(trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                           metric=exp.metric, mode=exp.mode)
    if frame.empty:
        return blocks + [Para("_No scientific hyperparameter took two values among trials that saved their test "
                              "predictions: nothing to compare._")]
    return blocks + [Bullets(frame["sentence"].tolist()),
                     TableBlock("findings", Call("findings", "findings_table", (Ref("trials"), Ref("path")),
                                                 _selection(exp)))]


def extend_plan(exp: Experiment, blocks: list) -> list:
    """`blocks` with Table 2 marked for significance and the per-class, paired and transfer sections added."""
    trials = exp.trials
    finished = trials[trials["status"] == "finished"] if len(trials) else trials
    if finished.empty:
        return blocks
    selection = _selection(exp)
    best = best_trials(trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                       metric=exp.metric, mode=exp.mode)
    added: list = []
    if best.empty:
        added.append(Para("_No finished trial saved its test predictions (written by artstudy since trials "
                          "keep predictions.csv): no per-class results or paired tests._"))
    else:
        for i, block in enumerate(blocks):  # Table 2, with fine-tune's lead marked significant or not
            if isinstance(block, TableBlock) and block.stem == "paper_table":
                blocks[i] = TableBlock("paper_table", Call("significance", "paper_table_marked",
                                                           (Ref("trials"), Ref("path")), dict(block.call.kwargs)))
        added.append(Heading("Paired comparisons"))
        if "mode" in best and best["mode"].nunique() > 1:
            added.append(TableBlock("mode_significance", Call("significance", "mode_comparisons",
                                                              (Ref("trials"), Ref("path")), selection)))
        if "model" in best and best["model"].nunique() > 1:
            added.append(TableBlock("backbone_significance", Call("significance", "backbone_comparisons",
                                                                  (Ref("trials"), Ref("path")), selection)))
        added.append(Heading("Per class"))
        for task in ordered(best["task"].unique().tolist(), TASK_ORDER) if "task" in best else []:
            added.append(FigureBlock(
                f"long_tail_{task}", f"Accuracy per class against training-set size: {task}",
                "Each point is one class: its test accuracy for the best trial of a cell, against its number of "
                "training images (log x). The long tail of rare classes sits on the left.",
                Call("per_class", "long_tail", (Ref("trials"), Ref("path"), task), selection)))
            if finished.loc[finished["task"] == task, "num_classes"].max() <= MATRIX_MAX_CLASSES:
                added.append(FigureBlock(
                    f"confusion_{task}", f"Confusion matrices: {task}",
                    "Rows: true class; columns: predicted class; shade: share of the true class's test images.",
                    Call("per_class", "confusion_matrix", (Ref("trials"), Ref("path"), task), selection)))
        added.append(TableBlock("confusions", Call("per_class", "confusions", (Ref("trials"), Ref("path")),
                                                   selection)))
    if enough_backbones(finished):
        added.append(Heading("Does a better ImageNet model transfer better?"))
        added.append(TableBlock("imagenet_transfer", Call("transfer", "correlation_table", (Ref("trials"),),
                                                          selection)))
        added.append(FigureBlock(
            "imagenet_transfer", "ImageNet accuracy against transfer accuracy",
            f"Test accuracy of each backbone (mean over seeds of its best setting) against its weights' ImageNet-1k "
            f"top-1, a colour per mode (Kornblith et al. 2019); drawn with {MIN_BACKBONES} backbones or more.",
            Call("transfer", "imagenet_vs_transfer", (Ref("trials"),), selection)))
    at = next((i for i, b in enumerate(blocks) if isinstance(b, Heading) and b.text == "All trials"), len(blocks))
    return blocks[:at] + added + blocks[at:]
