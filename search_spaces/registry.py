"""What a search space is, and the registry that lists them (torchvision's `_api.py` shape).

A space is a declaration, not a script: which hyperparameters it studies (*scientific*),
which it tunes so the comparison is fair (*nuisance*) and which it holds constant
(*fixed*, a caveat on its conclusions), their values, the metric it optimises, how it
samples (a grid, or Optuna one search per scientific cell) and its README recipe.
`Space.stages(context)` plans its trials (one `Stage` per Ray Tune experiment) and
`study/run/tuner.py` turns each stage into a Tuner; nothing here imports Ray or torch, so
`--help`, `--dry-run` and the tests stay cheap.

Adding a space: one module in this package that calls `register_space(Space(...))`, and
one import line in `search_spaces/__init__.py`. Or, without code, a study file: `study_file.py`
reads it into the same `Space` (and writes any space out as one).
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from search_spaces.demo_transfer import plan_baseline
from study.config import (CONFIG_KEYS, MODES, PAPER_MODELS, SAMPLERS,  # noqa: F401 (the spaces read them here)
                          TrialConfig)
from study.errors import StudyError

PAPER_TASKS = ("material", "type", "artist")  # the Rijksmuseum tasks of Sabatelli et al. (2018)

class UnknownSpaceError(StudyError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


# ---------------------------------------------------------------- distributions (Optuna spaces)
@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float

    def __str__(self) -> str:
        return f"log-uniform[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def __str__(self) -> str:
        return f"uniform[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class IntUniform:
    low: int
    high: int

    def __str__(self) -> str:
        return f"integer[{self.low}, {self.high}]"


@dataclass(frozen=True)
class Categorical:
    values: tuple

    def __str__(self) -> str:
        return "one of {" + ", ".join(map(str, self.values)) + "}"


Distribution = LogUniform | Uniform | IntUniform | Categorical


def to_optuna(dist: Distribution):
    import optuna.distributions as od

    if isinstance(dist, LogUniform):
        return od.FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return od.FloatDistribution(dist.low, dist.high)
    if isinstance(dist, IntUniform):
        return od.IntDistribution(dist.low, dist.high)
    return od.CategoricalDistribution(list(dist.values))


# ---------------------------------------------------------------- context a space is planned in
@dataclass
class Context:
    """What a space needs to know about this run to plan its trials."""

    collection: str = "demo"
    data_root: str = ""
    tasks: tuple[str, ...] = PAPER_TASKS  # the collection's tasks
    demo: bool = True  # the demo budget (study.config.DEMO_BUDGET) replaces the paper's in the fixed values
    seeds: int = 1  # each grid cell is repeated with seeds 0..seeds-1
    overrides: dict[str, Any] = field(default_factory=dict)  # --set, already typed
    # (collection, root, task, min_per_class, split) -> number of classes left after the rare-class rule
    # under that split; label_pruning's ladder reads it. None: no collection at hand (a plan for display only).
    count_classes: Callable[[str, str, str, int, str], int] | None = None
    sampler: str = SAMPLERS[0]  # Optuna spaces: one of study.config.SAMPLERS
    # A space with takes_source: the second collection its first stage trains on (collection, data_root, task)
    source: dict[str, str] = field(default_factory=dict)
    # seed -> the folder of a demo collection painted with that seed, written on first use (the runner's;
    # None: no collection at hand, a plan for display only)
    demo_root: Callable[[int], str] | None = None
    # model -> whether its ImageNet file is on this machine (the runner's; None: a plan for display only,
    # which assumes every file is there)
    has_imagenet: Callable[[str], bool] | None = None


Values = tuple | list | Callable[[Context, dict], list]


@dataclass
class Stage:
    """One Ray Tune experiment of a space: the trials, and how they are searched."""

    name: str  # "" for a one-stage space; else the experiment folder gets this suffix
    base: dict[str, Any]  # the config every trial shares (fixed values, plus pinned keys)
    grid: dict[str, list]  # scientific (and grid nuisance) keys -> values, crossed
    cells: list[dict] | None = None  # explicit cells instead of a crossed grid (a value depends on another)
    search: dict[str, Distribution] = field(default_factory=dict)  # Optuna: nuisance distributions
    samples_per_cell: int = 1  # Optuna: trials per scientific cell
    scheduler: str = "fifo"  # fifo | asha
    max_t: int = 1  # asha: the most reports a trial makes (epochs + the final report)
    depends_on: str = ""  # the stage whose results this one starts from; it runs once that one has finished
    title: str = ""
    roles: dict[str, list[str]] | None = None  # this stage's roles in study.json, where not the space's
    # Config values that only the `depends_on` stage's results decide: (key, placeholder) -> what will
    # replace it (for --dry-run). The runner checks these trials without the key, then, once `depends_on`
    # has finished, calls prepare(self, its result rows) to put the real values in.
    placeholders: dict[tuple[str, Any], str] = field(default_factory=dict)
    prepare: Callable[["Stage", list[dict]], None] | None = None
    skipped_models: tuple[str, ...] = ()  # the demo left these out: no ImageNet file (search_spaces/demo_transfer.py)

    def cell_list(self) -> list[dict]:
        if self.cells is not None:
            return [dict(c) for c in self.cells]
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]

    @property
    def num_trials(self) -> int:
        return len(self.cell_list()) * (self.samples_per_cell if self.search else 1)

    def trial_configs(self) -> list[dict]:
        """Every trial's config, in order (Optuna trials show their distributions)."""
        out = []
        for cell in self.cell_list():
            for _ in range(self.samples_per_cell if self.search else 1):
                out.append({**self.base, **cell, **{k: str(d) for k, d in self.search.items()}})
        return out


@dataclass(frozen=True)
class Space:
    name: str
    question: str  # one sentence: what the space studies (study.json, README)
    scientific: Mapping[str, Values]  # the effect measured; values crossed into a grid
    nuisance: Mapping[str, Values | Distribution] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)  # held constant: key -> value (full budget)
    demo: Mapping[str, Any] = field(default_factory=dict)  # fixed values replaced under the demo budget
    why: Mapping[str, str] = field(default_factory=dict)  # key -> why it has its role (README)
    metric: str = "val_acc"  # what the search and scheduler optimise, and "best" means
    mode: str = "max"
    search: str = "grid"  # grid | optuna (one Optuna study per scientific cell)
    samples_per_cell: int = 1  # optuna: trials per scientific cell
    demo_samples_per_cell: int = 1
    scheduler: str = "fifo"  # fifo | asha (asha: within each scientific cell)
    sampler: str = SAMPLERS[0]  # optuna: the default of --sampler
    budget: str = ""  # README: trial count and what it costs
    notes: str = ""  # README: caveats, how values are chosen
    example: str = "--data /data/rijksmuseum --collection rijksmuseum"  # README: flags of a real-collection run
    reports: tuple[str, ...] = ("",)  # the experiment folders of its stages (name suffixes), in report order
    plan: Callable[["Space", Context], list[Stage]] | None = None  # custom planner (several stages)
    takes_source: bool = False  # its first stage trains on a second collection: --source-data/-collection/-task
    # On the demo: paper backbones only where their ImageNet file is here, plus efficientnet_lite0 with and
    # without ImageNet weights (search_spaces/demo_transfer.py); demo_head_fit adds its logistic-head rows,
    # demo_twin names the modes that get the random-init twin, demo_ladder adds efficientnet_lite1/2 off the shelf
    demo_baseline: bool = False
    demo_head_fit: bool = False
    demo_twin: tuple[str, ...] = tuple(MODES)
    demo_ladder: bool = False
    demo_images: int = 0  # the demo collection's size for this space (0: study.config.DEMO_BUDGET.images)

    @property
    def roles(self) -> dict[str, list[str]]:
        # The collection is held constant unless a space varies it: a caveat on every conclusion.
        fixed = [] if "collection" in self.scientific else ["collection"]
        return {
            "scientific": list(self.scientific),
            "nuisance": list(self.nuisance),
            "fixed": fixed + [k for k in self.fixed if k not in self.scientific and k not in self.nuisance],
        }

    def stages(self, ctx: Context) -> list[Stage]:
        return (self.plan or plan_grid)(self, ctx)

    @property
    def stage_names(self) -> list[str]:
        """Its stages' names, the main one ("") first: where --resume looks for the experiment."""
        return [""] + [suffix.lstrip("-") for suffix in self.reports if suffix]


# ---------------------------------------------------------------- the registry
_SPACES: dict[str, Space] = {}


def register_space(space: Space) -> Space:
    if space.name in _SPACES:
        raise ValueError(f"search space {space.name!r} is already registered")
    _check_declaration(space)
    _SPACES[space.name] = space
    return space


def list_spaces(by_name: bool = True) -> list[str]:
    """The registered names, sorted (False: in registration order, as the README lists them)."""
    return sorted(_SPACES) if by_name else list(_SPACES)


def get_space(name: str) -> Space:
    try:
        return _SPACES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list_spaces(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownSpaceError(f"unknown search space {name!r}; {hint}known spaces: {', '.join(list_spaces())}, "
                                "or a path to a .toml study file") from None


def _check_declaration(space: Space) -> None:
    declared = [*space.scientific, *space.nuisance, *space.fixed, *space.demo]
    unknown = sorted(set(declared) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"space {space.name}: unknown config keys {unknown}")
    if set(space.scientific) & set(space.nuisance):
        raise ValueError(f"space {space.name}: a key cannot be both scientific and nuisance")
    if space.search not in ("grid", "optuna") or space.scheduler not in ("fifo", "asha"):
        raise ValueError(f"space {space.name}: search must be grid|optuna, scheduler fifo|asha")
    if space.sampler not in SAMPLERS:
        raise ValueError(f"space {space.name}: sampler must be one of {SAMPLERS}")


# ---------------------------------------------------------------- planning
def base_config(space: Space, ctx: Context) -> dict[str, Any]:
    """The values every trial shares: fixed (demo-adjusted), the collection, then --set."""
    base = dict(space.fixed)
    if ctx.demo:
        base.update(space.demo)
    base.update({"collection": ctx.collection, "data_root": ctx.data_root})
    base.update(ctx.overrides)
    return base


def resolve_values(values: Values, ctx: Context, base: dict) -> list:
    return list(values(ctx, base) if callable(values) else values)


def plan_grid(space: Space, ctx: Context) -> list[Stage]:
    """The default planner: scientific keys crossed (times seeds); nuisance keys crossed too
    (grid spaces) or searched by Optuna within each scientific cell (optuna spaces)."""
    base = base_config(space, ctx)
    grid: dict[str, list] = {}
    for key, values in space.scientific.items():
        if key in ctx.overrides:  # --set pins a scientific key: the grid narrows to that value
            continue
        grid[key] = resolve_values(values, ctx, base)
    search: dict[str, Distribution] = {}
    for key, values in space.nuisance.items():
        if key in ctx.overrides:
            continue
        if space.search == "optuna":
            search[key] = values  # type: ignore[assignment]
        else:
            grid[key] = resolve_values(values, ctx, base)  # type: ignore[arg-type]
    if ctx.seeds > 1 and "seed" not in ctx.overrides:
        grid["seed"] = list(range(ctx.seeds))
    for key in grid:
        base.pop(key, None)
    samples = space.demo_samples_per_cell if ctx.demo else space.samples_per_cell
    max_t = int(base.get("max_epochs", TrialConfig.max_epochs)) + 1
    stage = Stage("", base, grid, search=search, samples_per_cell=samples if search else 1,
                  scheduler=space.scheduler, max_t=max_t)
    if ctx.demo and space.demo_baseline and "model" in grid and "weights" not in ctx.overrides:
        stage.cells, stage.skipped_models = plan_baseline(stage.cell_list(), base, ctx.overrides,
                                                          ctx.has_imagenet or (lambda model: True),
                                                          head_fit=space.demo_head_fit, twin=space.demo_twin,
                                                          ladder=space.demo_ladder)
        stage.grid = {}
        for key in sorted({k for cell in stage.cells for k in cell}):  # what every cell shares is shared
            values = {repr(cell.get(key, "<unset>")) for cell in stage.cells}
            if len(values) == 1:
                base[key] = stage.cells[0][key]
                for cell in stage.cells:
                    del cell[key]
        stage.max_t = max(int(c.get("max_epochs", TrialConfig.max_epochs)) for c in stage.trial_configs()) + 1
    return [stage]


def geometric_ladder(full: int, low: int = 2, ratio: float = 0.5) -> list[int]:
    """Class counts from `full` down to `low`, each about `ratio` times the last: 100 -> 100 50 25 12 6 3 2."""
    if full < low:
        return [full] if full >= 2 else []
    rungs, k = [full], float(full)
    while True:
        k *= ratio
        n = max(low, int(math.floor(k + 0.5)))
        if n >= rungs[-1]:
            n = rungs[-1] - 1
        if n < low:
            break
        rungs.append(n)
        if n == low:
            break
    return rungs


def paper_tasks(ctx: Context, base: dict) -> list[str]:
    """The paper's tasks the collection has (material, type, artist); else all of the collection's tasks."""
    return [t for t in PAPER_TASKS if t in ctx.tasks] or list(ctx.tasks)
