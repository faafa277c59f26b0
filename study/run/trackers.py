"""The experiment trackers people already use, through Ray Tune's own logger callbacks.

    python -m study.run --space grid_paper --mlflow                  # a local ./mlruns file store
    python -m study.run --space grid_paper --mlflow http://127.0.0.1:5000
    python -m study.run --space grid_paper --wandb my-project        # WANDB_MODE=offline works too

Each trial becomes one MLflow run (or W&B run) in an experiment named like the Ray experiment,
with its config as parameters and every reported row (epochs, then the final test metrics) as
metrics. TensorBoard needs nothing here: Ray writes event files into every trial folder when
tensorboardX is installed (`pip install -e ".[tensorboard]"`). Both trackers are optional extras:
`pip install -e ".[mlflow]"`, `pip install -e ".[wandb]"`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from study.errors import StudyError

MLFLOW_DEFAULT = "mlruns"  # --mlflow without a URI: a file store in ./mlruns, no server needed


class TrackerError(StudyError):
    """A tracker asked for whose package is not installed."""


def mlflow_uri(value: str) -> str:
    """A tracking URI: a plain folder becomes a file: URI (MLflow's local file store), a URI stays as given."""
    if "://" in value or value.startswith("file:"):
        return value
    return Path(value).expanduser().resolve().as_uri()


def check_installed(mlflow: str | None, wandb: str | None) -> None:
    """Before Ray starts: a missing tracker package is one line saying what to install."""
    for wanted, module, extra in ((mlflow, "mlflow", "mlflow"), (wandb, "wandb", "wandb")):
        if wanted and importlib.util.find_spec(module) is None:
            raise TrackerError(f"--{extra} needs the {module} package: pip install -e \".[{extra}]\"")


def callbacks(experiment: str, mlflow: str | None = None, wandb: str | None = None) -> list:
    """Ray's MLflowLoggerCallback and/or WandbLoggerCallback for `experiment`; [] when neither is asked for."""
    out = []
    if mlflow:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        uri = mlflow_uri(mlflow)
        if uri.startswith("file:"):
            # MLflow 3 refuses its file store unless told it is wanted: a local folder is the point of the
            # default (no server, nothing to install beyond mlflow); `mlflow ui` reads it with the same variable.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        out.append(MLflowLoggerCallback(tracking_uri=uri, experiment_name=experiment,
                                        tags={"artstudy_experiment": experiment}))
    if wandb:
        from ray.air.integrations.wandb import WandbLoggerCallback

        # excludes: the resolved config repeats what W&B's run config already holds
        out.append(WandbLoggerCallback(project=wandb, group=experiment, excludes=["resolved_config"]))
    return out
