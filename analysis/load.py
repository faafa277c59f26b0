"""Read a Ray Tune experiment folder into tidy frames: one row per trial, one row per trial and epoch.

    >>> exp = load_experiment("artstudy-results/grid_paper")
    >>> exp.trials[["model", "mode", "status", "best_epoch", "test_acc"]]
    >>> exp.history.groupby("trial_id")["val_acc"].max()

Reads files only (no Ray, no torch): each trial folder's params.json and result.json (progress.csv where
result.json is missing), error.txt, the newest experiment_state-*.json, and the runner's study.json.

Rules (what study/run/trainable.py writes): result lines with `epoch` are epochs; the line with `test_acc` is the trial's
final report. A trial's best epoch is the one its own `monitor` prefers (val_loss lowest by default,
val_acc highest; the earliest on ties, as early stopping only counts strict improvements), not its last.
Its test metrics come from the final line. Accuracies stay fractions here; tables and figures show %.

Statuses: finished (final line), stopped (epochs, no final line, and Ray marked it done or TERMINATED:
a scheduler such as ASHA stopped it), errored (Ray's error.txt / error.pkl, or ERROR in the state),
unfinished (epochs, no final line: still running, or the experiment was interrupted), pending (nothing
reported yet).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError, AnalysisWarning
from analysis.roles import DEFAULTS, Roles, direction, resolve_roles, selection_metric
from study.contract import (BEST_EPOCH_METRICS, EPOCH_METRICS, PARAMS_FILE, PROGRESS_FILE, RESULT_FILE, STUDY_FILE,
                            StudyRecord, StudyRecordError)

STATUSES = ("finished", "stopped", "errored", "unfinished", "pending")
# Keys Ray adds to every reported row; everything else in a row is ours.
RAY_KEYS = frozenset({
    "timestamp", "checkpoint_dir_name", "should_checkpoint", "done", "training_iteration", "trial_id",
    "date", "time_this_iter_s", "time_total_s", "pid", "hostname", "node_ip", "config",
    "time_since_restore", "iterations_since_restore", "experiment_id", "experiment_tag", "warmup_time",
    "episodes_total", "timesteps_total", "timesteps_since_restore", "episode_reward_mean",
})
# Final-report keys that share a name with a config key; kept as `final_<key>` so the config column keeps its meaning.
FINAL_ONLY = frozenset({"feature_cache"})
# The best epoch's metrics a trial row carries (its epoch number is best_epoch).
BEST_ROW_METRICS = tuple(k for k in EPOCH_METRICS if k != "epoch")


@dataclass
class Experiment:
    """Everything analysis knows about one experiment folder."""

    path: Path
    study: dict  # study.json read through StudyRecord (its fields that are present); {} when missing
    trials: pd.DataFrame  # one row per trial
    history: pd.DataFrame  # one row per trial and epoch, with the trial's config and status
    config_keys: list[str]  # the columns of `trials` that are config keys
    roles: Roles
    metric: str  # what chooses between nuisance settings (study.json's metric, else the monitor)
    mode: str  # "min" | "max"
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


# ---------------------------------------------------------------- files


def read_json_lines(path: Path) -> tuple[list[dict], int]:
    """The complete JSON objects in a result.json, and how many lines could not be read.

    A trial killed while writing leaves its last line cut off; that line is skipped, not fatal.
    """
    rows, bad = [], 0
    text = path.read_bytes().decode("utf-8", errors="replace")
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def _read_json(path: Path, problems: list[str]) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.parent.name}/{path.name} could not be read ({exc.__class__.__name__}); skipped")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.parent.name}/{path.name} is not a JSON object; skipped")
        return None
    return data


def _flatten(config: dict) -> dict:
    """A nested config as one level, keys joined by "/" ({"a": {"b": 1}} -> {"a/b": 1}); values keep their type."""
    return pd.json_normalize(config, sep="/").to_dict("records")[0]


def _trainable_name(folder: str) -> str:
    """`trainable` from Ray's trial folder name: `<trainable>_<5 hex>_<index:05d>_<index>[_<tag>_<date>]` for a
    grid trial, `<trainable>_<8 hex>[...]` for one a search algorithm suggested."""
    match = re.match(r"^(.*?)_[0-9a-f]{5,8}(?:_\d{5})?(?:_|$)", folder)
    return match.group(1) if match else folder


def _is_trial_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in (PARAMS_FILE, RESULT_FILE, PROGRESS_FILE))


def _trial_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if _is_trial_dir(p))


def _check_experiment(root: Path) -> None:
    if not root.exists():
        raise AnalysisError(f"{root} does not exist; give the experiment folder <storage>/<name> "
                            "that `python -m study.run` printed")
    if not root.is_dir():
        raise AnalysisError(f"{root} is a file; give the experiment folder <storage>/<name>")
    if _trial_dirs(root) or (root / STUDY_FILE).exists() or list(root.glob("experiment_state*.json")):
        return
    inside = sorted(p.name for p in root.iterdir() if p.is_dir()
                    and ((p / STUDY_FILE).exists() or _trial_dirs(p) or list(p.glob("experiment_state*.json"))))
    if inside:
        raise AnalysisError(f"{root} holds experiments, it is not one: give one of "
                            + ", ".join(str(root / name) for name in inside))
    what = "is empty" if not any(root.iterdir()) else "has no trial folders, study.json or experiment_state-*.json"
    raise AnalysisError(f"{root} is not a Ray Tune experiment folder: it {what}; give the folder "
                        "<storage>/<name> that `python -m study.run` wrote")


def _experiment_state(root: Path, problems: list[str]) -> dict[str, dict]:
    """Ray's view of each trial, keyed by trial folder name: status, trial_id, error file."""
    states = sorted(root.glob("experiment_state*.json"))
    if not states:
        return {}
    data = _read_json(states[-1], problems)  # Ray writes a new one per (re)start; the newest is current
    out = {}
    for entry in (data or {}).get("trial_data", []):
        try:
            meta = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
            runtime = json.loads(entry[1]) if isinstance(entry[1], str) else entry[1]
            out[meta["relative_logdir"]] = {"status": meta.get("status"), "trial_id": meta.get("trial_id"),
                                           "config": meta.get("config"),
                                           "error_file": (runtime or {}).get("error_filename")}
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return out


# ---------------------------------------------------------------- one trial


def _read_trial(folder: Path, state: dict | None, problems: list[str]) -> tuple[dict, list[dict], dict | None]:
    """(config, epoch rows, final row) of one trial folder."""
    rows: list[dict] = []
    result = folder / RESULT_FILE
    if result.exists():
        rows, bad = read_json_lines(result)
        if bad:
            problems.append(f"trial {folder.name}: {bad} line(s) of result.json could not be read (cut off "
                            f"mid-write?); kept the {len(rows)} complete line(s)")
    elif (folder / PROGRESS_FILE).exists():
        try:
            progress = pd.read_csv(folder / PROGRESS_FILE)
            rows = [{k: v for k, v in r.items() if pd.notna(v)} for r in progress.to_dict("records")]
            problems.append(f"trial {folder.name}: no result.json; read progress.csv, which lacks keys first "
                            "reported after the first epoch (test metrics may be missing)")
        except (ValueError, OSError) as exc:
            problems.append(f"trial {folder.name}: progress.csv unreadable ({exc.__class__.__name__}); skipped")
    config = None
    if (folder / PARAMS_FILE).exists():
        config = _read_json(folder / PARAMS_FILE, problems)
    if config is None:
        config = next((r["config"] for r in rows if isinstance(r.get("config"), dict)), None)
    if config is None and state and isinstance(state.get("config"), dict):
        config = state["config"]
    if config is None:
        problems.append(f"trial {folder.name}: no params.json or config; its configuration is unknown")
        config = {}
    epochs = [r for r in rows if "epoch" in r and "test_acc" not in r]
    finals = [r for r in rows if "test_acc" in r]
    return _flatten(config), epochs, (finals[-1] if finals else None)


def _status(folder: Path, epochs: list[dict], final: dict | None, state: dict | None, rows_done: bool) -> str:
    ray_status = (state or {}).get("status")
    if final is not None:
        return "finished"
    if (folder / "error.txt").exists() or (folder / "error.pkl").exists() or ray_status == "ERROR":
        return "errored"
    if not epochs:
        return "pending"
    if rows_done or ray_status == "TERMINATED":
        return "stopped"
    return "unfinished"


def _error_message(folder: Path) -> str:
    path = folder / "error.txt"
    if not path.exists():
        return "error.pkl only" if (folder / "error.pkl").exists() else ""
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line and not set(line) <= set("^~ ")]
    return lines[-1][:300] if lines else "error.txt is empty"


def _best_epoch(history: pd.DataFrame, monitor: str) -> int | None:
    """Index label of the best row by `monitor` (earliest on ties), or None when it was never reported."""
    if monitor not in history.columns:
        return None
    values = pd.to_numeric(history[monitor], errors="coerce")
    if values.notna().sum() == 0:
        return None
    return values.idxmin() if direction(monitor) == "min" else values.idxmax()


# ---------------------------------------------------------------- the experiment


def load_study(path) -> dict:
    """study.json's fields as a dict ({} when it is missing or unreadable)."""
    file = Path(path) / STUDY_FILE
    return _read_study(file, []) if file.exists() else {}


def _read_study(file: Path, problems: list[str]) -> dict:
    """study.json through its record (study/contract.py): the fields present, each of its declared type."""
    try:
        return StudyRecord.from_json(file.read_text(encoding="utf-8", errors="replace")).to_dict()
    except (OSError, StudyRecordError) as exc:
        problems.append(f"{file.parent.name}/{file.name} could not be read ({exc}); skipped")
        return {}


def load_experiment(path) -> Experiment:
    """Read the experiment folder; raise AnalysisError when it is not one; list what was skipped in `warnings`."""
    root = Path(path).expanduser()
    _check_experiment(root)
    root = root.resolve()
    problems: list[str] = []
    study = _study(root, problems)
    states = _experiment_state(root, problems)

    trial_rows, history_frames, param_keys, config_order = [], [], {}, []
    for folder in _trial_dirs(root):
        state = states.get(folder.name)
        config, epochs, final = _read_trial(folder, state, problems)
        _note_keys(config, config_order)
        param_keys.setdefault(tuple(sorted(config)), []).append(folder.name)
        _complete_config(config, final)
        all_rows = epochs + ([final] if final else [])
        trial_id = (state or {}).get("trial_id") or next((r.get("trial_id") for r in all_rows if r.get("trial_id")),
                                                         None) or folder.name
        status = _status(folder, epochs, final, state, bool(epochs) and bool(epochs[-1].get("done")))
        hist = _trial_history(epochs, trial_id)
        if not hist.empty:
            history_frames.append((hist, config, status))
        row = {"trial_id": trial_id, "trial": folder.name, "status": status,
               "error": _error_message(folder) if status == "errored" else "", **config}
        row.update(_best_epoch_metrics(hist, final, str(config["monitor"]), folder.name, problems))
        if final:
            row.update(_final_metrics(final, config))
        last = all_rows[-1] if all_rows else {}
        if "time_total_s" in last:
            row["time_total_s"] = last["time_total_s"]
        trial_rows.append(row)
    trial_rows += _not_started(states, {row["trial"] for row in trial_rows}, config_order)
    problems += _mixing_problems(param_keys, bool(trial_rows))

    config_keys = config_order + [k for k in DEFAULTS if k not in config_order]
    trials = pd.DataFrame(trial_rows)
    if trials.empty:
        trials = pd.DataFrame(columns=["trial_id", "trial", "status", "error", *config_keys, "epochs"])
    history = _history(history_frames, config_keys)

    roles = resolve_roles(study, trials, config_keys)
    missing = [k for k in roles.scientific + roles.nuisance if k not in config_order]
    if study and missing and trial_rows:
        problems.append(f"study.json names {', '.join(missing)} as varied, but no trial's params.json has "
                        "them: trials from another space may be mixed in")
    metric, mode = selection_metric(study, trials)
    problems += roles.notes
    return Experiment(root, study, trials, history, config_keys, roles, metric, mode, problems)


def _study(root: Path, problems: list[str]) -> dict:
    if (root / STUDY_FILE).exists():
        return _read_study(root / STUDY_FILE, problems)
    problems.append("study.json is missing (not written by `python -m study.run`?): the question, the "
                    "command and the collection summary are unknown, and hyperparameter roles are guessed "
                    "from what varies")
    return {}


def _note_keys(config: dict, order: list[str]) -> None:
    """Append the config's keys not seen yet, so columns keep the order trials first show them."""
    order += [key for key in config if key not in order]


def _complete_config(config: dict, final: dict | None) -> None:
    """Fill what params.json left to the defaults: from the trial's resolved config (optimizer: null -> sgd),
    then the trial config's defaults for the keys analysis needs."""
    resolved = final.get("resolved_config") if final else None
    if isinstance(resolved, dict):
        for key, value in _flatten(resolved).items():
            if config.get(key) is None:
                config[key] = value
    for key, value in DEFAULTS.items():
        if config.get(key) is None:
            config[key] = value


def _trial_history(epochs: list[dict], trial_id: str) -> pd.DataFrame:
    """The trial's epoch lines as a frame, one row per epoch (Ray's own keys left out)."""
    hist = pd.DataFrame([{k: v for k, v in r.items() if k not in RAY_KEYS or k in ("time_total_s",)}
                         for r in epochs if "epoch" in r])
    if hist.empty:
        return hist
    hist["epoch"] = pd.to_numeric(hist["epoch"], errors="coerce")
    # A trial restarted from a checkpoint reports its later epochs again: keep the latest of each.
    hist = hist.dropna(subset=["epoch"]).drop_duplicates("epoch", keep="last").sort_values("epoch")
    hist["epoch"] = hist["epoch"].astype(int)
    hist = hist.reset_index(drop=True)
    hist.insert(0, "trial_id", trial_id)
    return hist


def _best_epoch_metrics(hist: pd.DataFrame, final: dict | None, monitor: str, trial: str,
                        problems: list[str]) -> dict:
    """Epoch counts and the metrics of the best epoch by the trial's monitor (or as the trial reported)."""
    row: dict = {"epochs": len(hist), "last_epoch": int(hist["epoch"].iloc[-1]) if len(hist) else None}
    best = _best_epoch(hist, monitor) if len(hist) else None
    reported_best = final.get("best_epoch") if final else None
    if best is not None:
        row["best_epoch"] = int(hist.loc[best, "epoch"])
        for key in BEST_ROW_METRICS:
            if key in hist.columns:
                row[key] = hist.loc[best, key]
    elif final:  # no epoch lines (progress only, or a trial that reports only at the end)
        row["best_epoch"] = reported_best
        row.update({k: final[k] for k in BEST_EPOCH_METRICS if k in final})
    if final and best is not None and reported_best is not None and int(reported_best) != row["best_epoch"]:
        problems.append(f"trial {trial}: best epoch by {monitor} in result.json is "
                        f"{row['best_epoch']}, the trial reported {reported_best}; the tables use the "
                        f"trial's own test metrics, taken at epoch {reported_best}")
    return row


def _final_metrics(final: dict, config: dict) -> dict:
    """The final report's scalars: test metrics as they are, names a config key also has prefixed final_."""
    row = {}
    for key, value in final.items():
        if key in RAY_KEYS or isinstance(value, (dict, list)) or key in BEST_EPOCH_METRICS:
            continue
        if key == "best_epoch":
            row["reported_best_epoch"] = value
        elif key in config or key in FINAL_ONLY:  # the final `feature_cache` ("hit") is not the config key (bool)
            row[f"final_{key}"] = value
        else:
            row[key] = value
    return row


def _not_started(states: dict[str, dict], known: set[str], config_order: list[str]) -> list[dict]:
    """Trials Ray knows of but has not started yet have no folder: pending (or errored before starting)."""
    rows = []
    for name, state in states.items():
        if name in known or not isinstance(state.get("config"), dict):
            continue
        config = _flatten(state["config"])
        _note_keys(config, config_order)
        config.update({k: v for k, v in DEFAULTS.items() if config.get(k) is None})
        status = "errored" if state.get("status") == "ERROR" else "pending"
        rows.append({"trial_id": state.get("trial_id") or name, "trial": name, "status": status,
                     "error": "failed before its folder was written" if status == "errored" else "",
                     **config, "epochs": 0})
    return rows


def _mixing_problems(param_keys: dict[tuple, list[str]], any_trials: bool) -> list[str]:
    """Signs that the folder holds trials of more than one space or run, or none at all."""
    problems = []
    if len(param_keys) > 1:
        groups = "; ".join(f"{len(names)} trial(s) with keys {', '.join(keys) or '(none)'}"
                           for keys, names in param_keys.items())
        problems.append(f"the trials have different config keys, so they likely come from different spaces "
                        f"or runs ({groups}); a key a trial lacks is left empty (or "
                        "given its TrialConfig default where analysis needs it)")
    prefixes = {_trainable_name(name) for names in param_keys.values() for name in names}
    if len(prefixes) > 1:
        problems.append(f"trial folders of different trainables are mixed here ({', '.join(sorted(prefixes))})")
    if not any_trials:
        problems.append("no trials have started yet: nothing but the study description to report")
    return problems


def _history(frames: list, config_keys: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=["trial_id", *EPOCH_METRICS, "status", *config_keys])
    parts = []
    for hist, config, status in frames:
        extra = {k: config.get(k) for k in config_keys if k not in hist.columns}
        extra["status"] = status
        parts.append(hist.assign(**{k: [v] * len(hist) for k, v in extra.items()}))
    return pd.concat(parts, ignore_index=True)


def _warn(problems: list[str]) -> None:
    for message in problems:
        warnings.warn(message, AnalysisWarning, stacklevel=3)


def load_trials(path) -> pd.DataFrame:
    """One row per trial: id, folder, status, config, epochs, best epoch and its metrics, test metrics."""
    exp = load_experiment(path)
    _warn(exp.warnings)
    return exp.trials


def load_history(path) -> pd.DataFrame:
    """One row per trial and epoch: the epoch metrics, plus the trial's config and status."""
    exp = load_experiment(path)
    _warn(exp.warnings)
    return exp.history


__all__ = ["Experiment", "STATUSES", "load_experiment", "load_history", "load_study",
           "load_trials", "read_json_lines"]
