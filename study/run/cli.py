"""Run a named study: a search space -> Ray Tune trials -> results, study.json and the report.

    python -m study.run --space grid_paper                  # the embedded demo collection, demo budget
    python -m study.run --space grid_paper --dry-run        # list the trials, run nothing
    python -m study.run --space label_pruning --data /data/rijks --collection rijksmuseum --seeds 3
    python -m study.run --space grid_paper --resume         # continue an interrupted experiment
    python -m study.run --space lr_sweep --address auto --gpus-per-trial 0.5   # on a Ray cluster
    python -m study.run --space my_study.toml               # a study file (search_spaces/study_file.py)
    python -m study.run --space label_pruning --tune lr=loguniform:1e-4:1e-1 --samples-per-cell 2

Bad input (an unknown space or --set key, a wrong value, a --data folder that is not the
collection named, a task it lacks, GPUs that are not there) ends with one line `error: ...`
and exit status 2, before any trial starts. The experiment folder is `<storage>/<name>/`
(docs/contracts.md; docs/architecture.md follows one trial through the layers). This file is the
command line; the rest, one job a file: `search_spaces/` (the studies), `study/run/planning.py`
(space + options -> checked trial configs), `study/run/tuner.py` (the Tuner), `study/run/trainable.py`
(one trial under Ray), `study/run/experiment.py` (study.json, tables), `study/run/cluster.py` (starting or joining Ray), `study/run/progress.py` (one console line per event).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search_spaces import Context, Space, Stage, get_space, list_spaces
from search_spaces.demo_transfer import LADDER, PACKAGED
from search_spaces.study_file import StudyFileError, load_study, space_to_toml, with_axes
from study.run import experiment as exp
from study.config import CONFIG_KEYS, SAMPLERS, ConfigError, coerce_value
from study.contract import DEFAULT_STORAGE, MODEL_FILE, STUDY_FILE, StudyRecord
from study.data import list_collections
from study.errors import StudyError, exit_on_error
from study.formatting import format_value
from study.run.checkpoint_pace import DEFAULT_SHARE, check_share
from study.run.planning import Collections, make_context, missing_imagenet, plan
from study.run.trackers import MLFLOW_DEFAULT, check_installed

EXPERIMENT_OPTIONS = ("data", "collection", "set", "seeds", "sampler", "source_data", "source_collection",
                      "source_task", "grid", "tune", "samples_per_cell", "scheduler")  # what defines an experiment; --resume reads them from study.json


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every other bad input
        self.exit(2, f"error: {message}\n")


def build_parser() -> Parser:
    studies = "\n".join(textwrap.fill(get_space(name).question, 96, initial_indent=f"  {name:<17} ",
                                       subsequent_indent=" " * 20) for name in list_spaces(by_name=False))
    p = Parser(prog="python -m study.run", description="Run a named study of transfer learning on art "
               "collections through Ray Tune.", epilog=f"studies (--space):\n{studies}\n\nREADME.md has a "
               "recipe for each; its section \"Your own study\" declares one in a .toml file.",
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, metavar="NAME|FILE.toml",
                   help=f"the study to run: one of {', '.join(list_spaces())}, or a study file ending in .toml")
    p.add_argument("--write-study", metavar="FILE.toml", help="write the space (with any --grid/--tune) as a "
                   "study file to edit, then run it with --space FILE.toml; runs nothing")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2,...", help="add a scientific axis, or replace "
                   "one: --grid augment=false,true, --grid top_k=halving (the collection's ladder)")
    p.add_argument("--tune", action="append", metavar="KEY=DIST", help="search a nuisance key with Optuna inside "
                   "every scientific cell: loguniform:A:B, uniform:A:B, int:A:B or choice:V1,V2,... "
                   "(--tune lr=loguniform:1e-5:1e-1)")
    p.add_argument("--samples-per-cell", type=int, metavar="N", help="with --tune: Optuna trials per scientific "
                   "cell (default: the space's; 1 for a grid space)")
    p.add_argument("--scheduler", choices=("fifo", "asha"), help="with --tune: ASHA stops poor trials within "
                   "each cell; fifo runs every trial to early stopping (default: the space's)")
    p.add_argument("--data", metavar="DIR", help="the collection's folder (default: the synthetic demo, "
                   "written on first use, and the demo budget)")
    p.add_argument("--collection", choices=list_collections(), help="the collection's layout (needed with --data)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, metavar="DIR",
                   help=f"where experiments go (default {DEFAULT_STORAGE}): a folder (shared by every node on a "
                   "cluster) or s3://...")
    p.add_argument("--name", metavar="EXP", help="experiment name (default: the space's name, plus the collection)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted experiment (Tuner.restore)")
    p.add_argument("--dry-run", action="store_true", help="print the trials and their count; run nothing")
    p.add_argument("--seeds", type=int, metavar="N", help="repeat every cell with seeds 0..N-1 (default 1)")
    p.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="pin a config key for every trial, e.g. --set task=type max_epochs=20")
    p.add_argument("--address", metavar="ADDR", help="join this Ray cluster (e.g. auto); default: a local Ray on "
                   "127.0.0.1 only")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, metavar="N", help="CPUs (torch threads) a trial "
                   "gets (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="F", help="GPUs a trial gets (default 0); fractions share one")
    p.add_argument("--max-concurrent", type=int, default=0, metavar="N", help="at most N trials at once (default 0: as many "
                   "as the resources allow)")
    p.add_argument("--checkpoint-share", type=float, default=DEFAULT_SHARE, metavar="F",
                   help=f"the most of a trial's time its epoch checkpoints may take (default {DEFAULT_SHARE}): on short "
                   "epochs a trial skips checkpoints until it has trained that long since the last one, and a "
                   "crash replays the epochs after it; 1 checkpoints every epoch")
    p.add_argument("--sampler", choices=SAMPLERS, help="Optuna spaces (lr_sweep): quasi-random QMC "
                   f"or TPE (default {SAMPLERS[0]})")
    with_source = ", ".join(name for name in list_spaces() if get_space(name).takes_source)
    p.add_argument("--source-data", metavar="DIR", help=f"{with_source}: the source collection's folder")
    p.add_argument("--source-collection", choices=list_collections(), help=f"{with_source}: its layout")
    p.add_argument("--source-task", metavar="T", help=f"{with_source}: the source task (default: the target's)")
    p.add_argument("--mlflow", nargs="?", const=MLFLOW_DEFAULT, metavar="TRACKING_URI", help="log every trial to "
                   f"MLflow (Ray's MLflowLoggerCallback; default store: ./{MLFLOW_DEFAULT}); needs the mlflow extra")
    p.add_argument("--wandb", metavar="PROJECT", help="log every trial to this Weights & Biases project (Ray's "
                   "WandbLoggerCallback; WANDB_MODE=offline for no account); needs the wandb extra")
    p.add_argument("--no-report", action="store_true", help="skip the report after each stage (a sweep whose "
                   "folder is read elsewhere); write it later with python -m analysis.report FOLDER")
    return p


# ---------------------------------------------------------------- options
def parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {item!r}; known keys: {', '.join(CONFIG_KEYS)}")
        if key in ("collection", "data_root"):
            raise ConfigError(f"--set {key}: name the collection with --data DIR --collection C")
        out[key] = coerce_value(key, value)
    return out


def load_space(args: argparse.Namespace) -> Space:
    """--space (a registered name or a .toml study file), with --grid, --tune, --samples-per-cell and --scheduler."""
    base = load_study(args.space) if args.space.endswith(".toml") else get_space(args.space)
    return with_axes(base, getattr(args, "grid", None), getattr(args, "tune", None),
                     getattr(args, "samples_per_cell", None), getattr(args, "scheduler", None))


def write_study(space: Space, path: str) -> None:
    if not path.endswith(".toml"):
        raise StudyFileError(f"--write-study {path}: a study file's name ends in .toml")
    if Path(path).exists():
        raise StudyFileError(f"--write-study {path}: the file exists; choose another path or remove it")
    text = space_to_toml(space)
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise StudyFileError(f"--write-study {path}: {err.strerror}") from None
    print(f"wrote {path}: run it with python -m study.run --space {path}")


def experiment_options(args: argparse.Namespace, space: Space | None = None) -> dict[str, Any]:
    """The options that define an experiment, normalised (resolved paths, typed --set values)."""
    if args.data and not args.collection:
        raise ConfigError(f"--data needs --collection: one of {', '.join(list_collections())}")
    collection = args.collection or "demo"
    if collection != "demo" and not args.data:
        raise ConfigError(f"--collection {collection} needs --data DIR (the collection's folder)")
    if args.source_collection and args.source_collection != "demo" and not args.source_data:
        raise ConfigError(f"--source-collection {args.source_collection} needs --source-data DIR")
    if args.source_data and not args.source_collection:
        raise ConfigError(f"--source-data needs --source-collection: one of {', '.join(list_collections())}")
    space = space or load_space(args)
    if not space.takes_source and (args.source_data or args.source_collection or args.source_task):
        with_source = [name for name in list_spaces() if get_space(name).takes_source]
        raise ConfigError("--source-data, --source-collection and --source-task are for "
                          + " and ".join(f"--space {name}" for name in with_source))
    if space.takes_source and args.data and collection != "demo" and not args.source_data:
        raise ConfigError(f"{space.name} on --data needs the source too: --source-data DIR --source-collection C")
    if args.sampler and space.search != "optuna":
        raise ConfigError(f"--sampler is for Optuna spaces ({', '.join(optuna_spaces())}, or any with --tune), "
                          f"not {args.space}")
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    return {
        "data": str(Path(args.data).expanduser().resolve()) if args.data else "",
        "collection": collection,
        "set": parse_sets(args.set),
        "seeds": args.seeds or 1,
        "sampler": args.sampler or space.sampler or SAMPLERS[0],
        "source_data": str(Path(args.source_data).expanduser().resolve()) if args.source_data else "",
        "source_collection": args.source_collection or ("demo" if not args.source_data else ""),
        "source_task": args.source_task or "",
        "grid": list(getattr(args, "grid", None) or []),
        "tune": list(getattr(args, "tune", None) or []),
        "samples_per_cell": getattr(args, "samples_per_cell", None),
        "scheduler": getattr(args, "scheduler", None),
    }


def optuna_spaces() -> list[str]:
    return [name for name in list_spaces() if get_space(name).search == "optuna"]


def given_options(args: argparse.Namespace) -> set[str]:
    return {k for k in EXPERIMENT_OPTIONS if getattr(args, k) not in (None, [], "")}


# ---------------------------------------------------------------- printing
def print_plan(space: Space, stages: list[Stage], ctx: Context) -> int:
    total = 0
    for stage in stages:
        configs = stage.trial_configs()
        total += len(configs)
        title = f"stage {stage.name}: " if stage.name else ""
        print(f"{title}{stage.title or space.question}")
        print(f"  shared: {exp.describe_shared({k: v for k, v in stage.base.items()})}")
        if stage.search:
            dists = ", ".join(f"{k} ~ {d}" for k, d in stage.search.items())
            print(f"  Optuna ({ctx.sampler.upper()}) per cell, {stage.samples_per_cell} samples each: {dists}"
                  f"; {stage.scheduler.upper()} within each cell")
            for i, cell in enumerate(stage.cell_list(), 1):
                print(f"{i:>4}  " + " ".join(f"{k}={format_value(v, missing='')}" for k, v in cell.items())
                      + f"  x{stage.samples_per_cell} samples")
        else:
            for line in exp.describe_trials(configs, stage.base):
                for (key, value), later in stage.placeholders.items():
                    line = line.replace(f"{key}={value}", f"{key}={value}({later})")
                print(line)
        print(f"  {len(configs)} trials")
    print(f"{total} trials")
    return total


def print_budget(space: Space, ctx: Context, stages: list[Stage]) -> None:
    if not ctx.demo:
        print(f"budget: full (the paper's); collection {ctx.collection} at {ctx.data_root}")
        return
    if not space.demo:
        print(f"budget: {space.name}'s own (its fixed values below); collection: the embedded demo")
        return
    # what the planned trials use, per backbone: efficientnet_lite0 runs the demo at its own budget
    per_model: dict[str, dict] = {}
    for stage in stages:
        for config in stage.trial_configs():
            model = str(config.get("model"))
            per_model.setdefault(model, {k: config.get(k, space.demo[k]) for k in space.demo})
    groups: dict[str, list[str]] = {}
    for model, values in per_model.items():
        groups.setdefault(", ".join(f"{k}={v}" for k, v in values.items()), []).append(model)
    shown = "; ".join(f"{values} ({', '.join(models)})" for values, models in groups.items())
    print(f"budget: demo ({ctx.data_root}): {shown} (image_size raised to each backbone's minimum input size); "
          "ImageNet weights where cached, else random initialisation (each trial's weights_used says which)")


def print_skipped(stages: list[Stage]) -> None:
    """The one line saying which paper backbones the demo left out, and how to bring them in."""
    skipped = sorted({model for stage in stages for model in stage.skipped_models})
    if skipped:
        fetch = f"python -m study.weights fetch {' '.join(skipped)}"
        print(f"skipped: {', '.join(skipped)} (no ImageNet file on this machine); the demo runs {PACKAGED} (and "
              f"where the study plans them {', '.join(LADDER)}), whose ImageNet weights install with artstudy, "
              f"instead. "
              f"To add them: `{fetch}` on a machine with internet, then rerun.")


def check_weights(stages: list[Stage], ctx: Context, address: str | None) -> None:
    """ImageNet files the trials will need and this machine lacks: said once, before any trial.

    The demo trains those backbones from random initialisation instead (and says so); a real
    collection on this machine stops here rather than in 30 trials. On a cluster the nodes have
    their own caches, so the driver only warns."""
    missing = missing_imagenet(stages)
    if not missing:
        return
    from study.trial.imagenet_files import WeightsNotFound, search_dirs

    fetch = f"python -m study.weights fetch {' '.join(missing)}"
    files = ", ".join(missing.values())
    if ctx.demo:
        print(f"weights: no ImageNet file cached for {', '.join(missing)}: on the demo these start from random "
              f"initialisation, and most such trials stay near the majority class. For transfer learning, "
              f"`{fetch}` on a machine with internet (or put {files} in {search_dirs()[0]}), then rerun.")
    elif address:
        print(f"warning: this machine has no ImageNet file for {', '.join(missing)}; every node needs {files} "
              f"in its torch cache ({fetch}), or those trials stop with the same message", file=sys.stderr)
    else:
        raise WeightsNotFound(f"no ImageNet weights for {', '.join(missing)}: put {files} in "
                              f"{search_dirs()[0]} (`{fetch}` on a machine with internet), "
                              f"or train from random initialisation with --set weights=none")


# ---------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return run(args, argv)
    except StudyError as e:
        return exit_on_error(e)


@dataclass(frozen=True)
class Launch:
    """Where and how this invocation runs its stages (what is not part of the plan itself)."""

    storage: str  # a resolved folder or a URI
    name: str  # the experiment's name; stage X of it lives in <name>-X
    argv: list[str]  # the command line study.json records (the original one, on --resume)
    options: dict[str, Any]  # experiment_options, as recorded in study.json
    resume: bool = False
    cpus: float = 1.0  # per trial
    gpus: float = 0.0  # per trial
    max_concurrent: int = 0  # 0: as many as the resources allow
    checkpoint_share: float = DEFAULT_SHARE  # study/run/checkpoint_pace.py
    trackers: dict[str, str | None] = field(default_factory=dict)  # --mlflow, --wandb (study/run/trackers.py)
    report: bool = True  # --no-report: this invocation writes no report (not recorded: a resume may write it)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from study.run.cluster import prepare_environment

    prepare_environment(args.address)  # before anything imports Ray: loopback only, or the cluster's token
    # Every epoch checkpoints and num_to_keep forces a state snapshot: expected here, not a bottleneck.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    space = load_space(args)
    if args.write_study:
        write_study(space, args.write_study)
        return 0
    launch = make_launch(args, argv, space)
    collections = Collections()
    ctx = make_context(launch.options, collections, space.demo_images)
    stages = plan(space, ctx, collections)
    print_skipped(stages)
    if args.dry_run:
        print_budget(space, ctx, stages)
        print_plan(space, stages, ctx)
        return 0
    if not (args.address or os.environ.get("RAY_ADDRESS")):
        from study.run.cluster import check_local_gpus

        check_local_gpus(args.gpus_per_trial)  # a cluster's GPUs are checked once joined
    if not args.resume:
        refuse_existing(stages, launch)
    print_budget(space, ctx, stages)
    check_weights(stages, ctx, args.address or os.environ.get("RAY_ADDRESS"))
    check_installed(args.mlflow, args.wandb)
    import ray

    from study.run.cluster import start_ray

    started_here = not ray.is_initialized()
    start_ray(args.address, args.gpus_per_trial)
    try:
        return run_stages(space, stages, ctx, collections, launch)
    finally:
        if started_here:
            ray.shutdown()


def make_launch(args: argparse.Namespace, argv: list[str], space: Space) -> Launch:
    """The checked options of this invocation; on --resume, the experiment's recorded ones."""
    storage = args.storage if exp.is_uri(args.storage) else str(Path(args.storage).expanduser().resolve())
    options = experiment_options(args, space)
    name = args.name or exp.default_name(space.name, options["collection"])
    if args.cpus_per_trial <= 0 or args.gpus_per_trial < 0:
        raise ConfigError("--cpus-per-trial must be positive and --gpus-per-trial at least 0")
    try:
        check_share(args.checkpoint_share)
    except ValueError as err:
        raise ConfigError(f"--checkpoint-share {args.checkpoint_share}: {err}") from None
    if args.seeds and args.seeds > 1 and space.search == "optuna":
        grids = [s for s in list_spaces() if s not in optuna_spaces()]
        raise ConfigError(f"--seeds: {space.name} samples its nuisance values per trial; repeat the winner with "
                          f"grid_paper --set lr=... --seeds N (spaces with seeds: {', '.join(grids)})")
    if args.resume:
        recorded = find_study(storage, name, space.stage_names)
        if recorded is None:
            raise exp.ExperimentError(f"nothing to resume: no {STUDY_FILE} in {exp.join(storage, name)}; "
                                      "give the --storage and --name the experiment was started with")
        if recorded.space != space.name:
            raise exp.ExperimentError(f"{name} is a {recorded.space} experiment, not {space.name}")
        options = check_resume_options(recorded.options or {}, options, given_options(args))
        argv = recorded.argv or argv
    return Launch(storage=storage, name=name, argv=argv, options=options, resume=args.resume,
                  cpus=args.cpus_per_trial, gpus=args.gpus_per_trial, max_concurrent=args.max_concurrent,
                  checkpoint_share=args.checkpoint_share, trackers={"mlflow": args.mlflow, "wandb": args.wandb},
                  report=not args.no_report)


def refuse_existing(stages: list[Stage], launch: Launch) -> None:
    """A new experiment never writes over an old one: --resume continues it, --name starts another."""
    from study.run.tuner import restorable

    for stage in stages:
        folder = exp.stage_dir(launch.storage, launch.name, stage.name)
        if exp.read_study(folder) is not None or restorable(folder):
            raise exp.ExperimentError(f"experiment {folder} exists; add --resume to continue it, "
                                      "or choose another --name")


def run_stages(space: Space, stages: list[Stage], ctx: Context, collections: Collections, launch: Launch) -> int:
    """Each stage in turn, once the one it depends on has finished; the worst exit status."""
    code = 0
    earlier: dict[str, list[dict]] = {}
    for stage in stages:
        if stage.depends_on:
            if code:  # interrupted or errored: the next stage would start from missing results
                print(f"stage {stage.depends_on} is incomplete, so the next stage does not start; --resume "
                      "finishes it and then runs the next")
                return code
            if stage.prepare:
                stage.prepare(stage, earlier[stage.depends_on])
        study, rows = run_stage(space, stage, ctx, collections, launch)
        earlier[stage.name] = rows
        folder = exp.stage_dir(launch.storage, launch.name, stage.name)
        code = max(code, summarize_stage(space, stage, study, rows, folder, launch.argv, launch.report))
    return code


def run_stage(space: Space, stage: Stage, ctx: Context, collections: Collections,
              launch: Launch) -> tuple[StudyRecord, list[dict]]:
    """One stage: study.json, the Tune experiment, study.json again with the counts; its result rows."""
    from study.run.tuner import fit_stage, prune_finished, result_rows

    folder = exp.stage_dir(launch.storage, launch.name, stage.name)
    collection = collections.get(stage.base["collection"], stage.base["data_root"])
    study = exp.study_record(space, stage, ctx, launch.options, launch.argv, collection, launch.storage,
                             launch.name, previous=exp.read_study(folder) if launch.resume else None)
    exp.write_study(folder, study)
    results = fit_stage(space, stage, collection, launch.storage, folder, resume=launch.resume,
                        cpus=launch.cpus, gpus=launch.gpus, max_concurrent=launch.max_concurrent,
                        checkpoint_share=launch.checkpoint_share, sampler=ctx.sampler, trackers=launch.trackers)
    rows = result_rows(results)
    study = exp.finished(study, stage.num_trials, rows, len(results.errors))
    exp.write_study(folder, study)  # saved before anything is shown
    freed = prune_finished(results)
    if freed:
        print(f"freed {freed / 2**30:.1f} GiB: the last epoch checkpoints of finished trials (their {MODEL_FILE} stays)")
    return study, rows


def find_study(storage: str, name: str, stages: list[str]) -> StudyRecord | None:
    for stage in stages:
        study = exp.read_study(exp.stage_dir(storage, name, stage))
        if study is not None:
            return study
    return None


def check_resume_options(recorded: dict, given: dict, explicit: set[str]) -> dict:
    for key in sorted(explicit):
        if given[key] != recorded.get(key):
            raise exp.ExperimentError(
                f"--resume continues the experiment as it was started, with {key}={recorded.get(key)!r}; "
                f"drop --{key.replace('_', '-')} or start a new experiment with another --name")
    return {**given, **recorded}


def summarize_stage(space: Space, stage: Stage, study: StudyRecord, rows: list[dict], folder: str, argv,
                    report: bool = True) -> int:
    print(f"\nresults: {folder}")
    print(f"best of each scientific cell ({space.metric}, {space.mode}; mean over seeds; test metrics of that setting):")
    print(exp.best_of_each_cell(folder))
    used = sorted({str(r["weights_used"]) for r in rows if r.get("weights_used")})
    if used:
        print(f"weights used: {'; '.join(used)}")
    code = 0
    counts = study.trials
    unfinished = counts["planned"] - counts["final"]
    if counts["errored"] or (unfinished and stage.scheduler == "fifo"):
        print(f"{counts['errored']} trial(s) errored, {unfinished} without test metrics; continue with: "
              f"{exp.command_line([a for a in argv if a != '--resume'] + ['--resume'])}")
        code = 1
    if not report:
        print(f"report: not written (--no-report); write it with: python -m analysis.report {folder}")
    elif not write_report(folder):
        code = 1
    return code


def write_report(folder: str) -> bool:
    """The analysis report of a finished stage; False (and the command to retry) where it failed.

    The trials' results are already on disk, so a failing report is announced, with its traceback,
    rather than raised over the results table just printed."""
    if exp.is_uri(folder):
        print(f"report: copy {folder} to this machine, then: python -m analysis.report <that folder>")
        return True
    from analysis import AnalysisError  # analysis installs with the runner; the report's matplotlib loads only here
    from analysis.report import write_report as report

    retry = f"retry: python -m analysis.report {folder}"
    try:
        path = report(folder)
    except AnalysisError as e:
        print(f"warning: no report: {e}; {retry}", file=sys.stderr)
        return False
    except Exception:  # a bug in analysis: show it in full, keep the results and the exit status honest
        traceback.print_exc()
        print(f"warning: the report failed (traceback above); the results are saved; {retry}", file=sys.stderr)
        return False
    print(f"report: {path}")
    return True

