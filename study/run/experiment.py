"""The experiment folder's own files and views: study.json, the dry-run listing, the best of each cell.

`<storage>/<name>/` is Ray Tune's experiment folder; the runner adds `study.json` (docs/contracts.md,
"The experiment folder"; its fields are `study.contract.StudyRecord`'s, which `study_record` below
fills and `finished` completes) so that `analysis` knows what was studied
without Ray: the space, its hyperparameter roles, the metric, the command line, the versions and
the collection summary. Nothing here imports Ray or torch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import platform
import shlex
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis.roles import LIKELY_SCIENTIFIC, varied_within_cells
from search_spaces.registry import LogUniform
from study import atomic
from study.config import TrialConfig, parse_split
from study.contract import STUDY_FILE, StudyRecord
from study.errors import StudyError
from study.formatting import format_value

if TYPE_CHECKING:
    from search_spaces import Context, Space, Stage

STAGE_SUFFIX = "-"  # stage "source" of experiment X lives in X-source


class ExperimentError(StudyError):
    """An experiment folder that cannot be started or resumed as asked."""


def is_uri(path: str) -> bool:
    return "://" in str(path)


def join(folder: str, *parts: str) -> str:
    return "/".join([str(folder).rstrip("/"), *parts]) if is_uri(folder) else str(Path(folder, *parts))


def stage_dir(storage: str, name: str, stage: str) -> str:
    return join(storage, f"{name}{STAGE_SUFFIX}{stage}" if stage else name)


def read_text(path: str) -> str | None:
    if is_uri(path):
        import pyarrow.fs

        fs, inner = pyarrow.fs.FileSystem.from_uri(path)
        if fs.get_file_info(inner).type == pyarrow.fs.FileType.NotFound:
            return None
        with fs.open_input_stream(inner) as f:
            return f.read().decode()
    p = Path(path)
    return p.read_text() if p.is_file() else None


def write_text(path: str, text: str) -> None:
    if is_uri(path):
        import pyarrow.fs

        fs, inner = pyarrow.fs.FileSystem.from_uri(path)
        fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(inner) as f:
            f.write(text.encode())
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(p, text)  # never a half-written study.json, even if the run is killed here


def read_study(folder: str) -> StudyRecord | None:
    text = read_text(join(folder, STUDY_FILE))
    return StudyRecord.from_json(text) if text else None


def write_study(folder: str, study: StudyRecord) -> None:
    write_text(join(folder, STUDY_FILE), study.to_json())


def versions() -> dict[str, str]:
    import study

    out = {"artstudy": study.__version__, "python": platform.python_version()}
    for dist in ("torch", "torchvision", "timm", "ray", "optuna"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def default_name(space: str, collection: str) -> str:
    """The experiment's folder name when --name is not given: the space, plus the collection if not the demo."""
    return space if collection == "demo" else f"{space}-{collection}"


def command_line(argv: list[str]) -> str:
    return "python -m study.run " + shlex.join(argv)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------- study.json

def planned_roles(roles: dict[str, list[str]], stage: Stage) -> dict[str, list[str]]:
    """The space's roles, with every other key that the planned trials vary within one cell of the declared
    scientific keys moved to scientific: the demo runs efficientnet_lite0 with weights=imagenet and none, so
    `weights` is compared, not held. (The optimiser, fixed per mode, and image_size, raised to each
    backbone's minimum, vary only between cells: they stay where they are.)"""
    # the planned configs are read as analysis reads trials: one rule for both (analysis.roles)
    configs = pd.DataFrame(stage.trial_configs())
    others = set(roles["scientific"]) | set(roles["nuisance"]) | set(stage.search)
    candidates = [k for k in LIKELY_SCIENTIFIC if k not in others and k in configs.columns]
    varied = varied_within_cells(configs, candidates, [k for k in roles["scientific"] if k != "seed"])
    return {"scientific": roles["scientific"] + varied, "nuisance": roles["nuisance"],
            "fixed": [k for k in roles["fixed"] if k not in varied]}


def study_record(space: Space, stage: Stage, ctx: Context, options: dict, argv: list[str], collection,
                 storage: str, name: str, previous: StudyRecord | None = None) -> StudyRecord:
    """study.json's content: what a stage studies, how, on what, with which versions; `previous`, the
    record an interrupted run left, keeps its creation time and adds this resumption."""
    from study.data import summarize

    tasks = sorted({c["task"] for c in stage.trial_configs()})
    summary = None
    # the run's split and split_seed (--set), not the defaults: they decide the split sizes and which
    # small classes the rare-class rule drops
    split = parse_split(stage.base.get("split", TrialConfig.split))
    for task in tasks:  # before pruning (label_pruning varies top_k); min_per_class is the space's
        part = summarize(collection, task, min_per_class=int(stage.base.get("min_per_class", TrialConfig.min_per_class)),
                         split_seed=int(stage.base.get("split_seed", TrialConfig.split_seed)), split=split)
        summary = part if summary is None else {**summary, "tasks": {**summary["tasks"], **part["tasks"]}}
    roles = stage.roles or planned_roles(space.roles, stage)
    optuna = space.search == "optuna"
    return StudyRecord(
        space=space.name, question=space.question, roles=roles, metric=space.metric, mode=space.mode,
        command=command_line(argv), argv=argv, versions=versions(), collection=summary,
        budget="demo" if ctx.demo else "full", seeds=ctx.seeds,
        created=(previous.created if previous else None) or now(),
        stage=stage.name or "main", search=space.search, scheduler=stage.scheduler, options=options,
        sampler=ctx.sampler if optuna else None,
        distributions={k: str(d) for k, d in stage.search.items()} if optuna else None,
        bounds={k: {"kind": "loguniform", "low": d.low, "high": d.high} for k, d in stage.search.items()
                if isinstance(d, LogUniform)} if optuna else None,
        source_experiment=stage_dir(storage, name, stage.depends_on) if stage.depends_on else None,
        resumed=[*(previous.resumed or []), now()] if previous else None,
    )


def finished(study: StudyRecord, planned: int, rows: list[dict], errored: int) -> StudyRecord:
    """The record once the stage's fit() returned: when, and how many trials did what."""
    return dataclasses.replace(study, finished=now(), trials={
        "planned": planned, "reported": len(rows), "final": sum("test_acc" in r for r in rows), "errored": errored,
        # how many trials started from which weights (a demo may lack an ImageNet file)
        "weights_used": dict(Counter(str(r["weights_used"]) for r in rows if r.get("weights_used")))})



# ---------------------------------------------------------------- the dry-run listing
def describe_trials(configs: list[dict], shared: dict, width: int = 4) -> list[str]:
    """One line per trial: the keys that differ between trials (the shared ones are printed once)."""
    varying = [k for k in configs[0]] if configs else []
    varying = [k for k in varying if len({format_value(c.get(k), missing='') for c in configs}) > 1 or k not in shared]
    lines = []
    for i, config in enumerate(configs, 1):
        lines.append(f"{i:>{width}}  " + " ".join(f"{k}={format_value(config.get(k), missing='')}" for k in varying))
    return lines


def describe_shared(shared: dict) -> str:
    keys = [k for k in shared if k not in ("data_root",)]
    return " ".join(f"{k}={format_value(shared[k], missing='') or '-'}" for k in keys)


# ---------------------------------------------------------------- the best of each scientific cell
def best_of_each_cell(folder: str) -> str:
    """The console's "best of each scientific cell": the report's isolation table (analysis.tables),
    read from the experiment folder as the report reads it, so the two can never disagree (which
    trials compete, a stopped trial's value at its best epoch, seeds averaged, not optimised)."""
    if is_uri(folder):
        return f"(the table is in the report: copy {folder} here, then python -m analysis.report <that folder>)"
    import warnings

    from tabulate import tabulate

    from analysis import load_experiment
    from analysis.tables import isolation_table

    with warnings.catch_warnings():  # what could not be read is the report's to list, once
        warnings.simplefilter("ignore")
        found = load_experiment(folder)
    table = isolation_table(found.trials, scientific=found.roles.scientific, nuisance=found.roles.nuisance,
                            metric=found.metric, mode=found.mode)
    if table.display.empty:
        return "(no trial reported the metric)"
    return tabulate(table.display, headers="keys", showindex=False, disable_numparse=True)


def trial_name(trial) -> str:
    """Short trial folder names: Ray's own pattern `<trainable>_<5 hex>_<index:05d>_<index>` (what
    analysis and Ray's tools parse), without the config tag and date that make Ray's default names
    too long for some filesystems. A grid trial's id is already `<5 hex>_<index:05d>`."""
    tag = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    if not tag.isdigit():
        return f"train_{trial.trial_id}"
    return f"train_{trial.trial_id[:5]}_{int(tag):05d}_{int(tag)}"
