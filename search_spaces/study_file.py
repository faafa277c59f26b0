"""A study declared in a TOML file, and axes added to any space from the command line: both become a `Space`.

    python -m study.run --space my_study.toml                         # load_study: parse -> check -> Space
    python -m study.run --space grid_paper --write-study my.toml      # space_to_toml: a Space -> the file
    python -m study.run --space label_pruning --tune lr=loguniform:1e-4:1e-1 --samples-per-cell 2

The file declares what a built-in space does (search_spaces/registry.py, `Space`); the result is an ordinary
`Space`, planned, run, resumed and reported by the same code as a registered one. Layout (README, "Your own
study", has a complete file):

    name, question, metric, direction, search (grid|optuna), sampler, samples_per_cell,
    demo_samples_per_cell, scheduler (fifo|asha), budget, notes, example        top-level values
    [scientific] key = [values] | "halving" (top_k) | "paper_tasks" (task)     crossed into a grid
    [nuisance]   key = "loguniform:A:B" | "uniform:A:B" | "int:A:B" | "choice:V1,V2" | [values]
    [fixed]      key = value ("none": the paper's per-mode choice)               held constant
    [demo]       key = value                                                     replaces fixed under the demo budget
    [why]        key = "text"                                                    why the key has its role

Every value goes through `study.config.coerce_value` and `resolve_config`, as `--set` does; anything wrong is
one StudyFileError naming the file (or option), the key and what would be valid, before Ray starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, get_args, get_type_hints

from search_spaces import cross_collection, label_pruning
from search_spaces.registry import (CONFIG_KEYS, SAMPLERS, Categorical, Distribution, IntUniform, LogUniform,
                                    Space, Uniform, paper_tasks)
from study.config import MODES, MONITORS, ConfigError, TrialConfig, coerce_value, resolve_config
from study.contract import BEST_EPOCH_METRICS
from study.errors import StudyError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

# Values computed from the collection, by the name a file gives them: name -> (the key it fills, the function)
COMPUTED: dict[str, tuple[str, Callable]] = {
    "halving": ("top_k", label_pruning.class_ladder),
    "paper_tasks": ("task", paper_tasks),
}
# Planners with several stages, by name (a file's `planner`): the registered space whose planner it is, whose
# scientific keys it varies, whose source options and experiment folders it takes, and the fixed keys it reads
PLANNERS: dict[str, tuple[Space, tuple[str, ...]]] = {"cross_collection": (cross_collection.SPACE,
                                                                           ("task", "max_epochs"))}
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
# The top-level values of a file and their TOML types
TOP: dict[str, type] = {"name": str, "question": str, "metric": str, "direction": str, "search": str,
                        "sampler": str, "samples_per_cell": int, "demo_samples_per_cell": int, "scheduler": str,
                        "budget": str, "notes": str, "example": str, "demo_baseline": bool, "demo_head_fit": bool,
                        "demo_ladder": bool, "demo_twin": list, "demo_images": int, "planner": str, "takes_source": bool, "reports": list}
TABLES = ("scientific", "nuisance", "fixed", "demo", "why")
ROLES = ("scientific", "nuisance", "fixed")
# Keys the runner sets from --data/--collection, never a study
RUNNER_KEYS = ("collection", "data_root")
_TYPES = get_type_hints(TrialConfig)


class StudyFileError(StudyError):
    """A study file or a --grid/--tune option that cannot become a space; the message says what would."""


def _nearest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _key_type(key: str) -> type:
    return next(kind for kind in (get_args(_TYPES[key]) or (_TYPES[key],)) if kind is not type(None))


class _Checker:
    """Checks one source (a file, or --grid/--tune), every message naming it."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, message: str) -> StudyFileError:
        return StudyFileError(f"{self.where}: {key}: {message}")

    def config_key(self, key: str, role: str) -> str:
        if key in RUNNER_KEYS:
            raise self.fail(key, "the collection is named with --data DIR --collection C, not in a study")
        if key not in CONFIG_KEYS:
            raise self.fail(key, f"no trial understands this key; {_nearest(key, CONFIG_KEYS)}"
                                 f"{role} keys are config keys: {', '.join(k for k in CONFIG_KEYS if k not in RUNNER_KEYS)}")
        return key

    def value(self, key: str, value: Any) -> Any:
        """`value` typed as `key` takes it, and a trial with it alone resolves (the checks of --set)."""
        try:
            typed = coerce_value(key, value)
            if typed is not None:
                resolve_config({key: typed})
        except ConfigError as err:
            raise self.fail(key, str(err)) from None
        return typed

    def values(self, key: str, values: Any) -> list | Callable:
        """A scientific axis: a non-empty list of values, or the name of values computed from the collection."""
        if isinstance(values, str):
            if values not in COMPUTED:
                raise self.fail(key, f"{values!r} names no computed values; give a list of values, or one of "
                                     + ", ".join(f"{name!r} (for {k})" for name, (k, _) in COMPUTED.items()))
            wanted, function = COMPUTED[values]
            if wanted != key:
                raise self.fail(key, f"{values!r} computes {wanted}, not {key}")
            return function
        if not isinstance(values, list) or not values:
            raise self.fail(key, "an axis needs a non-empty list of values, e.g. [1, 2]"
                                 + (" (or \"halving\")" if key == "top_k" else ""))
        typed = [self.value(key, v) for v in values]
        if len({repr(v) for v in typed}) != len(typed):
            raise self.fail(key, f"the values {values} repeat one")
        return typed

    def number(self, key: str, text: str, kind: type) -> float | int:
        try:
            number = kind(text.strip()) if kind is int else float(text)
        except ValueError:
            raise self.fail(key, f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not math.isfinite(number):
            raise self.fail(key, f"{text!r}: the bounds must be finite")
        return number

    def distribution(self, key: str, spec: Any) -> Distribution:
        """"loguniform:A:B", "uniform:A:B", "int:A:B" or "choice:V1,V2,..."; each bound a value the key takes."""
        usage = "loguniform:A:B, uniform:A:B, int:A:B or choice:V1,V2,..."
        if not isinstance(spec, str) or ":" not in spec:
            raise self.fail(key, f"{spec!r} is not a distribution; give {usage}")
        kind, _, rest = spec.partition(":")
        kind = kind.strip().lower()
        if kind not in DISTRIBUTIONS:
            raise self.fail(key, f"unknown distribution {kind!r}; {_nearest(kind, DISTRIBUTIONS)}give {usage}")
        if kind == "choice":
            choices = [v for v in (part.strip() for part in rest.split(",")) if v]
            if not choices:
                raise self.fail(key, "choice: needs at least one value, e.g. choice:16,32,64")
            return Categorical(tuple(self.values(key, choices)))
        base = _key_type(key)
        if base not in (int, float) or (base is int and kind != "int"):
            allowed = "int:A:B or choice:..." if base is int else "choice:..."
            raise self.fail(key, f"{kind} samples {'fractions' if base is int else 'numbers'}, but {key} takes "
                                 f"{base.__name__} values; give {allowed}")
        parts = rest.split(":")
        if len(parts) != 2:
            raise self.fail(key, f"{kind} needs two bounds, {kind}:LOW:HIGH; got {spec!r}")
        low, high = (self.number(key, p, int if kind == "int" else float) for p in parts)
        if low >= high:
            raise self.fail(key, f"{spec!r}: the low bound must be below the high bound")
        if kind == "loguniform" and low <= 0:
            raise self.fail(key, f"{spec!r}: a log range must lie above 0; e.g. loguniform:1e-5:1e-1")
        low, high = self.value(key, low), self.value(key, high)
        return {"loguniform": LogUniform, "uniform": Uniform, "int": IntUniform}[kind](low, high)


# ---------------------------------------------------------------- a file -> a Space
def load_study(path: str | Path) -> Space:
    where = str(path)
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as err:
        raise StudyFileError(f"{where}: cannot read the study file: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise StudyFileError(f"{where}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise StudyFileError(f"{where}: not valid TOML: the file is not UTF-8 text") from None
    return study_from_dict(data, where)


def study_from_dict(data: dict, where: str) -> Space:
    check = _Checker(where)
    for key, value in data.items():
        if key in TABLES:
            if not isinstance(value, dict):
                raise check.fail(key, f"must be a table ([{key}]) of key = value")
        elif key not in TOP:
            raise check.fail(key, f"not a study setting; {_nearest(key, [*TOP, *TABLES])}known: "
                                  f"{', '.join([*TOP, *(f'[{t}]' for t in TABLES)])}")
        elif not isinstance(value, TOP[key]) or (TOP[key] is int and isinstance(value, bool)):
            raise check.fail(key, f"{value!r} is not {TOP[key].__name__}")
    for key in ("name", "question"):
        if not str(data.get(key, "")).strip():
            raise check.fail(key, "required: " + ("a name for the study, e.g. name = \"lr_pruning\"" if key == "name"
                                                  else "one sentence saying what the study asks"))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", data["name"]):
        raise check.fail("name", f"{data['name']!r}: letters, digits, _ . - only (it names the experiment folder)")
    tables = {t: data.get(t, {}) for t in TABLES}
    for table in ROLES + ("demo", "why"):
        for key in tables[table]:
            check.config_key(key, table)
    seen: dict[str, str] = {}
    for table in ROLES:
        for key in tables[table]:
            if key in seen:
                raise check.fail(key, f"in both [{seen[key]}] and [{table}]: a key has one role")
            seen[key] = table
    for key in tables["demo"]:
        if seen.get(key, "fixed") != "fixed":
            raise check.fail(key, f"[demo] replaces fixed values; {key} is {seen[key]}")
    metric = data.get("metric", "val_acc")
    if metric not in BEST_EPOCH_METRICS:
        raise check.fail("metric", f"{metric!r}; {_nearest(metric, BEST_EPOCH_METRICS)}"
                                   f"one of {', '.join(BEST_EPOCH_METRICS)}")
    direction = data.get("direction", MONITORS.get(metric, "max"))
    if direction != MONITORS.get(metric, "max"):
        raise check.fail("direction", f"{direction!r}: {metric} is better when {MONITORS.get(metric, 'max')}imised")
    search = data.get("search") or ("optuna" if any(isinstance(v, str) for v in tables["nuisance"].values())
                                    else "grid")
    for key, allowed in (("search", ("grid", "optuna")), ("scheduler", ("fifo", "asha")), ("sampler", SAMPLERS)):
        if data.get(key, allowed[0]) not in allowed:
            raise check.fail(key, f"{data[key]!r}; one of {', '.join(allowed)}")
    for key in ("samples_per_cell", "demo_samples_per_cell"):
        if data.get(key, 1) < 1:
            raise check.fail(key, "at least 1")
    scientific = {key: check.values(key, v) for key, v in tables["scientific"].items()}
    nuisance: dict[str, Any] = {}
    for key, spec in tables["nuisance"].items():
        if isinstance(spec, list):
            values = check.values(key, spec)
            nuisance[key] = Categorical(tuple(values)) if search == "optuna" else values
        elif search == "grid":
            raise check.fail(key, f"a distribution ({spec!r}) is searched by Optuna: set search = \"optuna\", "
                                  "or give a list of values to cross")
        else:
            nuisance[key] = check.distribution(key, spec)
    fixed = {key: check.value(key, v) for key, v in tables["fixed"].items()}
    demo = {key: check.value(key, v) for key, v in tables["demo"].items()}
    for name, values in (("fixed", fixed), ("demo", {**fixed, **demo})):
        try:
            resolve_config({k: v for k, v in values.items() if v is not None})
        except ConfigError as err:
            raise check.fail(f"[{name}]", str(err)) from None
    why = {}
    for key, text in tables["why"].items():
        if not isinstance(text, str):
            raise check.fail(f"why.{key}", "a sentence in quotes")
        why[key] = text
    planned: dict[str, Any] = {}
    if "planner" in data:
        planned = _planner(check, data, scientific, fixed)
    for key in ("takes_source", "reports"):
        if key in data and not planned:
            raise check.fail(key, "set by a planner (planner = \"cross_collection\"), not on its own")
    optional = {k: data[k] for k in ("budget", "notes", "example", "demo_baseline", "demo_head_fit", "demo_ladder",
                                     "demo_images", "samples_per_cell", "scheduler", "sampler") if k in data}
    if "demo_twin" in data:  # the modes whose demo cells get a random-init twin
        twin = data["demo_twin"]
        if any(mode not in MODES for mode in twin):  # [] = no twin at all
            raise check.fail("demo_twin", f"a list of modes from {', '.join(MODES)}, or [] for none")
        optional["demo_twin"] = tuple(twin)
    if data.get("demo_images", 1) < 1:
        raise check.fail("demo_images", "the demo collection's size, a whole number of images above 0")
    return Space(name=data["name"], question=data["question"], scientific=scientific, nuisance=nuisance,
                 fixed=fixed, demo=demo, why=why, metric=metric, mode=direction, search=search,
                 demo_samples_per_cell=data.get("demo_samples_per_cell", data.get("samples_per_cell", 1)),
                 **planned, **optional)


def _planner(check: _Checker, data: dict, scientific: dict, fixed: dict) -> dict[str, Any]:
    """A named planner's Space fields, once the file declares what that planner reads."""
    name = data["planner"]
    if name not in PLANNERS:
        raise check.fail("planner", f"{name!r}; one of {', '.join(PLANNERS)} (or none: one grid or Optuna stage)")
    space, needs = PLANNERS[name]
    if set(scientific) != set(space.scientific):
        raise check.fail("scientific", f"planner {name} varies {', '.join(space.scientific)}; declare those")
    missing = [k for k in needs if k not in fixed]
    if missing:
        raise check.fail("fixed", f"planner {name} reads {', '.join(missing)}: give them in [fixed]")
    fields = {"plan": space.plan, "takes_source": space.takes_source, "reports": tuple(space.reports)}
    for key in ("takes_source", "reports"):
        given = data.get(key, fields[key])
        if (tuple(given) if isinstance(given, list) else given) != fields[key]:
            raise check.fail(key, f"planner {name} sets it to {fields[key]!r}")
    return fields


# ---------------------------------------------------------------- a Space -> a file
def _spec(dist: Distribution) -> str | list:
    if isinstance(dist, Categorical):
        return list(dist.values)
    kind = {LogUniform: "loguniform", Uniform: "uniform", IntUniform: "int"}[type(dist)]
    return f"{kind}:{dist.low!r}:{dist.high!r}"


def _axis(space: Space, key: str, values: Any) -> str | list:
    if callable(values):
        for name, (_, function) in COMPUTED.items():
            if function is values:
                return name
        raise StudyFileError(f"{space.name}: {key}: its values come from an unnamed function; "
                             f"a study file can name only {', '.join(COMPUTED)}")
    return list(values)


def study_to_dict(space: Space) -> dict[str, Any]:
    """What a study file holds for `space`; study_from_dict(study_to_dict(s)) plans what s plans."""
    planner = None
    if space.plan is not None:
        planner = next((name for name, (owner, _) in PLANNERS.items() if owner.plan is space.plan), None)
        if planner is None:
            raise StudyFileError(f"{space.name}: its planner has no name; known planners: {', '.join(PLANNERS)}")
    roles = set(space.scientific) | set(space.nuisance)
    out: dict[str, Any] = {"name": space.name, "question": space.question, "metric": space.metric,
                           "direction": space.mode, "search": space.search}
    if space.search == "optuna":
        out |= {"sampler": space.sampler, "samples_per_cell": space.samples_per_cell,
                "demo_samples_per_cell": space.demo_samples_per_cell}
    out["scheduler"] = space.scheduler
    out |= {k: getattr(space, k) for k in ("budget", "notes", "example") if getattr(space, k)}
    out |= {k: True for k in ("demo_baseline", "demo_head_fit", "demo_ladder") if getattr(space, k)}
    if space.demo_baseline and tuple(space.demo_twin) != tuple(MODES):
        out["demo_twin"] = list(space.demo_twin)
    if space.demo_images:
        out["demo_images"] = space.demo_images
    if planner:
        out["planner"] = planner  # which sets takes_source and reports
    out["scientific"] = {k: _axis(space, k, v) for k, v in space.scientific.items()}
    if space.nuisance:
        out["nuisance"] = {k: (_spec(v) if isinstance(v, (LogUniform, Uniform, IntUniform, Categorical))
                               else _axis(space, k, v)) for k, v in space.nuisance.items()}
    # TOML has no null: "none" is what --set writes for the paper's per-mode choice
    out["fixed"] = {k: "none" if v is None else v for k, v in space.fixed.items() if k not in roles}
    if space.demo:
        out["demo"] = dict(space.demo)
    if space.why:
        out["why"] = dict(space.why)
    return out


def space_to_toml(space: Space) -> str:
    import tomli_w

    return tomli_w.dumps(study_to_dict(space))


# ---------------------------------------------------------------- --grid / --tune on any space
def _split(check: _Checker, item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key or not value.strip():
        raise StudyFileError(f"{option} takes KEY={'V1,V2,...' if option == '--grid' else 'DISTRIBUTION'}, "
                             f"got {item!r}")
    return check.config_key(key, option), value.strip()


def with_axes(space: Space, grid: list[str] | None = None, tune: list[str] | None = None,
              samples_per_cell: int | None = None, scheduler: str | None = None) -> Space:
    """`space` with --grid axes added to (or replacing) its scientific ones and --tune dimensions searched by
    Optuna inside every scientific cell; a key given a role leaves the others. Unchanged without options."""
    if not (grid or tune or samples_per_cell or scheduler):
        return space
    if (samples_per_cell or scheduler) and not tune and space.search != "optuna":
        raise StudyFileError(f"--samples-per-cell and --scheduler go with --tune: {space.name} searches no "
                             "nuisance dimension")
    if samples_per_cell is not None and samples_per_cell < 1:
        raise StudyFileError("--samples-per-cell: at least 1")
    if space.plan is not None and (grid or tune):
        raise StudyFileError(f"--grid/--tune: {space.name} plans its own stages; write it out with --write-study "
                             "and edit the file instead")
    scientific, nuisance = dict(space.scientific), dict(space.nuisance)
    fixed, demo, why = dict(space.fixed), dict(space.demo), dict(space.why)
    named: list[str] = []
    moved: dict[str, str] = {}
    for option, items in (("--grid", grid or []), ("--tune", tune or [])):
        check = _Checker(option)
        for item in items:
            key, text = _split(check, item, option)
            if key in moved:
                raise check.fail(key, f"already given by {moved[key]}: a key has one role")
            moved[key] = option
            for table in (scientific, nuisance, fixed, demo):
                table.pop(key, None)
            if option == "--grid":
                scientific[key] = check.values(key, text if text in COMPUTED else text.split(","))
                why[key] = "an axis added from the command line (--grid)"
            else:
                nuisance[key] = check.distribution(key, text)
                why[key] = f"tuned inside every scientific cell by Optuna (--tune {key}={text})"
            named.append(f"{option[2:]}-{key}")
    search = "optuna" if nuisance and (tune or space.search == "optuna") else space.search
    if search == "optuna":
        nuisance = {k: Categorical(tuple(v)) if isinstance(v, (list, tuple)) else v for k, v in nuisance.items()}
    samples = samples_per_cell or (space.samples_per_cell if space.search == "optuna" else 1)
    demo_samples = samples_per_cell or (space.demo_samples_per_cell if space.search == "optuna" else 1)
    return dataclasses.replace(space, name="-".join([space.name, *named]), scientific=scientific,
                               nuisance=nuisance, fixed=fixed, demo=demo, why=why, search=search,
                               samples_per_cell=samples, demo_samples_per_cell=demo_samples,
                               scheduler=scheduler or space.scheduler)
