"""label_pruning: accuracy as a function of the number of classes kept.

The study the 2020 reproduction of Sabatelli et al. proposed and never ran. The ladder of
`top_k` values is computed from the collection itself (its class count after the rare-class
rule), so the same space fits the demo, Rijksmuseum or any folder of images:

    python -m study.run --space label_pruning                          # demo, task artist
    python -m study.run --space label_pruning --data DIR --collection rijksmuseum --set task=type
"""

from search_spaces.registry import MODES, PAPER_MODELS, Context, Space, geometric_ladder, register_space
from study.config import DEMO_BUDGET, PAPER_RECIPE
from study.errors import StudyError


def class_ladder(ctx: Context, base: dict) -> list[int]:
    """top_k from the task's full class count down to 2, halving: 374 -> 374 187 94 47 23 12 6 3 2.

    The full rung keeps every class (top_k = the count, which prunes nothing), so the curve's
    right end is the unpruned task; by the split rule of docs/contracts.md each rung's test set is a subset of
    the rung before, so accuracies along the ladder are comparable.
    """
    if ctx.count_classes is None:
        raise StudyError("label_pruning needs the collection to size its ladder")
    if "task" not in base:  # the task is an axis (--grid task=...): each would need a ladder of its own
        raise StudyError("top_k=halving sizes its ladder from one task's classes, so the task cannot be an axis "
                         "beside it: run the study once per task with --set task=T")
    full = ctx.count_classes(base["collection"], base["data_root"], base["task"], int(base["min_per_class"]),
                             str(base["split"]))
    if full < 2:
        raise StudyError(f"task {base['task']} has {full} class(es) left; label_pruning needs at least 2")
    return geometric_ladder(full)


SPACE = register_space(
    Space(
        name="label_pruning",
        question=(
            "How does accuracy change as fewer, more frequent classes are kept (top_k), "
            "for each backbone used off the shelf or fine-tuned?"
        ),
        scientific={"top_k": class_ladder, "model": PAPER_MODELS, "mode": MODES},
        fixed={**PAPER_RECIPE, "task": "artist"},
        demo=DEMO_BUDGET.values,
        demo_baseline=True,
        # The demo, sized so the smallest rung can show something: at 400 images the artist task's top-2 rung
        # tests on 12 images, at 1,200 on 38 (and the full rung on 98). Fine-tuning sets the cost, so the
        # random-init twin runs off the shelf only (a feature pass), and fine-tuning from ImageNet alone.
        demo_images=1200,
        demo_twin=("off_the_shelf",),
        why={
            "top_k": "the number of classes kept: a halving ladder from the task's full count down to 2",
            "model": "the five backbones of grid_paper",
            "mode": "off the shelf vs fine-tuned",
            "task": "artist by default (the task with the longest tail); --set task=type or material",
            "min_per_class": "0: only the rare-class rule; set it to prune first, and the ladder starts from what is left",
            "lr": "the paper's 1e-3, untuned: a caveat, as in grid_paper",
        },
        budget=(
            "len(ladder) x 5 models x 2 modes trials: a task with K classes has about log2(K) rungs (9 for "
            "a few hundred classes: 90 trials). Trials at small top_k are cheap (few images), so the cost is "
            "dominated by the top rungs. Demo on a machine without the paper's ImageNet files: a demo collection of "
            "its own, 1,200 images (the default demo's 400 leave its top-2 rung 12 test images, where no interval "
            "excludes anything; at 1,200 it has 38, the full rung 98), efficientnet_lite0 with ImageNet weights in "
            "both modes and from random init off the shelf, on the ladder 18, 9, 5, 2 of the artist task = 12 "
            "trials: 3.8 to 14 minutes on 2 CPU cores (AMD EPYC VM) from a fresh clone with an empty cache: 225 s on "
            "a quiet machine, 840 s with a test suite beside it (the fine-tuned top rungs set the cost). With the "
            "paper's files in place their 40 trials run too."
        ),
        example="--data /data/rijksmuseum --collection rijksmuseum --set task=type",
        notes=(
            "The ladder is computed from `summarize` on the collection before any trial starts, after "
            "min_per_class; `--dry-run` prints it. Pruning happens before the split, so a smaller rung's "
            "test images are a subset of a larger rung's."
        ),
    )
)
