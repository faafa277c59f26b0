"""cross_collection: the paper's Table 3. Do weights fine-tuned on one art collection transfer
to another better than ImageNet's?

Two stages, two Tune experiments: `<name>-source` fine-tunes every backbone on the source
collection (ImageNet start); `<name>` then trains on the target collection from those weights
and, beside them, from ImageNet's, both off the shelf and fine-tuned:

    python -m study.run --space cross_collection     # demo: a second synthetic collection -> the demo
    python -m study.run --space cross_collection --data ANTWERP --collection folder \\
        --source-data RIJKS --source-collection rijksmuseum --source-task type
"""

from pathlib import Path

from search_spaces.demo_transfer import PACKAGED
from search_spaces.registry import MODES, PAPER_MODELS, Context, Space, Stage, base_config, register_space
from study.config import DEMO_BUDGET, PAPER_RECIPE
from study.contract import MODEL_FILE
from study.errors import StudyError

SOURCE = "source"  # the weights value stage 2 replaces with the source trial's model.pt, per model


def plan(space: Space, ctx: Context) -> list[Stage]:
    if ctx.source.get("collection") == "demo" and not ctx.source.get("data_root") and ctx.demo_root:
        ctx.source["data_root"] = ctx.demo_root(1)  # the source demo: the target's styles, another seed
    base = base_config(space, ctx)
    models = [base.pop("model")] if "model" in ctx.overrides else list(PAPER_MODELS)
    skipped: tuple[str, ...] = ()
    if ctx.demo and "model" not in ctx.overrides and "weights" not in ctx.overrides:
        # What transfers on this machine (search_spaces/demo_transfer.py): the paper backbones whose ImageNet
        # file is here, and efficientnet_lite0, whose weights install with artstudy, at its own demo budget
        has = ctx.has_imagenet or (lambda model: True)
        skipped = tuple(sorted(m for m in models if not has(m)))
        models = [m for m in models if m not in skipped] + [PACKAGED]
    own = {m: {k: v for k, v in DEMO_BUDGET.per_model.get(m, {}).items() if k not in ctx.overrides}
           if ctx.demo else {} for m in models}  # per-backbone demo budget (efficientnet_lite0: 128 px, 6 epochs)
    modes = [base.pop("mode")] if "mode" in ctx.overrides else list(MODES)
    weights = [base.pop("weights")] if "weights" in ctx.overrides else ["imagenet", SOURCE]
    seeds = [base.pop("seed")] if "seed" in ctx.overrides else list(range(ctx.seeds))

    # Stage 1: the paper's fine-tuning recipe on the source collection, one trial per backbone.
    src = {**base, "collection": ctx.source["collection"], "data_root": ctx.source["data_root"],
           "task": ctx.source.get("task") or base["task"], "mode": "fine_tune", "weights": "imagenet", "seed": 0}
    # Stage 1 varies only the backbone; the rest is its recipe.
    roles = {"scientific": ["model"], "nuisance": [],
             "fixed": [k for k in space.roles["fixed"] + ["mode", "weights", "task"] if k != "model"]}
    def max_t(cells: list[dict], shared: dict) -> int:
        return max(int(c.get("max_epochs", shared["max_epochs"])) for c in cells) + 1

    source_cells = [{"model": m, **own[m]} for m in models]
    source = Stage("source", src, {}, cells=source_cells, max_t=max_t(source_cells, src), roles=roles,
                   title=f"fine-tune on {src['collection']}/{src['task']} (ImageNet start)", skipped_models=skipped)
    cells = [
        {"model": m, "mode": mode, "weights": w, **({"seed": s} if len(seeds) > 1 else {}), **own[m]}
        for m in models for mode in modes for w in weights for s in seeds
    ]
    if len(seeds) > 1:
        base.pop("seed", None)
    else:
        base["seed"] = seeds[0]
    target = Stage("", base, {}, cells=cells, max_t=max_t(cells, base), skipped_models=skipped,
                   depends_on="source" if SOURCE in weights else "",
                   title=f"transfer to {ctx.collection}/{base['task']}",
                   placeholders={("weights", SOURCE): "stage 1's model"},
                   prepare=lambda stage, rows: fill_source_weights(stage, rows, space.metric, space.mode))
    return [source, target] if target.depends_on else [target]


def fill_source_weights(stage: Stage, source_rows: list[dict], metric: str, mode: str) -> None:
    """Stage 2's `weights=source` cells get the model.pt of the best source trial of their backbone."""
    best: dict[str, dict] = {}
    sign = 1 if mode == "max" else -1
    for row in source_rows:
        if "test_acc" not in row or not row.get("checkpoint"):
            continue
        model = row["model"]
        if model not in best or sign * row[metric] > sign * best[model][metric]:
            best[model] = row
    for cell in stage.cells or []:
        if cell.get("weights") == SOURCE:
            if cell["model"] not in best:
                raise StudyError(f"the source stage has no finished {cell['model']} trial; add --resume to retry it")
            folder = str(best[cell["model"]]["checkpoint"])  # a local folder or a URI (s3://...)
            cell["weights"] = f"{folder.rstrip('/')}/{MODEL_FILE}" if "://" in folder else str(Path(folder, MODEL_FILE))


SPACE = register_space(
    Space(
        name="cross_collection",
        question=(
            "Does a backbone fine-tuned on one art collection make a better starting point on another "
            "collection than its ImageNet weights, used off the shelf or fine-tuned?"
        ),
        scientific={"model": PAPER_MODELS, "mode": MODES, "weights": ("imagenet", SOURCE)},
        fixed={k: v for k, v in PAPER_RECIPE.items() if k != "weights"} | {"task": "material"},
        demo=DEMO_BUDGET.values,
        why={
            "model": "the five backbones of grid_paper. On the demo, where their ImageNet files are missing: "
                     "efficientnet_lite0, whose ImageNet weights install with artstudy (128 px, at most 6 epochs)",
            "mode": "off the shelf vs fine-tuned, on the target collection",
            "weights": "imagenet, or `source`: the same backbone fine-tuned on the source collection "
                       "(stage 1; its model.pt path is what params.json records)",
            "task": "the target task (material by default; --set task=...); the source task is --source-task",
            "lr": "the paper's 1e-3 in both stages",
        },
        budget=(
            "stage 1: 5 trials (one fine-tuning per backbone on the source); stage 2: 5 models x 2 modes x "
            "2 weights = 20 trials (times --seeds): 25 in all. Demo on a machine without the paper's ImageNet "
            "files: efficientnet_lite0 alone, 1 + 2 modes x 2 weights = 5 trials, 2.1 to 6.4 minutes for both stages "
            "from a fresh clone with empty caches (both demos written) on 2 CPU cores (AMD EPYC VM): 123 and 133 s "
            "on a quiet machine, 385 s on a busy one."
        ),
        notes=(
            "Without --data both collections are synthetic demos: the demo (seed 0) is the target and a "
            "second one painted in the same styles with another seed (1) the source. With --data, --data/--collection name "
            "the target and --source-data/--source-collection/--source-task the source (default: the "
            "target's task). Stage 2 starts when stage 1 has finished; --resume continues whichever stage "
            "was interrupted. Report both experiments with analysis.report."
        ),
        example="--data /data/antwerp --collection folder --set task=label "
                "--source-data /data/rijksmuseum --source-collection rijksmuseum --source-task type",
        reports=("-source", ""),
        plan=plan,
        takes_source=True,
    )
)
