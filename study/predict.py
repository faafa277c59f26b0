"""Label new images with the best trial of an experiment: its top-5 classes and their probabilities.

    python -m study.predict artstudy-results/grid_paper scans/*.jpg --out predictions.csv
    python -m study.predict artstudy-results/grid_paper a.jpg b.png --cell model=resnet50,mode=fine_tune,task=type

The trial is the best of a cell (by default the best cell of the experiment), chosen as the report
chooses (analysis/predictions.py: best nuisance setting, then best seed, on the validation metric;
never on test). Its final checkpoint's model.pt is loaded, and each image goes through the trial's
own preprocessing: the image cache's resize and centre crop (study/data/decode.py) at the trial's
input size, then the backbone's mean and std. An image that cannot be read is named on stderr and
skipped; the others are still labelled. No Ray needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

from analysis import AnalysisError, load_experiment
from analysis.predictions import best_trials, cell_keys, cell_name
from study import spreadsheet
from study.contract import MODEL_FILE, final_checkpoint
from study.data.decode import decode_resized
from study.errors import StudyError, exit_on_error
from study.trial import engine, models
from study.trial.predictions import top_k
from study.trial.transforms import ToInput
from study.trial.weights import load_file

BATCH = 32


class PredictError(StudyError):
    """No trial to predict with, or nothing that could be labelled."""


def parse_cell(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    cell = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise PredictError(f"--cell {text!r}: give key=value pairs separated by commas, e.g. "
                               "model=resnet50,mode=fine_tune,task=material")
        cell[key.strip()] = value.strip()
    return cell


def choose_trial(experiment_dir: str | Path, cell: dict[str, str]) -> tuple[Path, pd.Series]:
    """(final checkpoint folder, trial row) of the best trial of `cell`, or of the experiment."""
    exp = load_experiment(experiment_dir)
    best = best_trials(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                       metric=exp.metric, mode=exp.mode)
    if best.empty:
        raise PredictError(f"{exp.path} has no finished trial with saved predictions to predict with")
    keys = cell_keys(exp.trials, exp.roles.scientific)
    unknown = sorted(set(cell) - set(best.columns))
    if unknown:
        raise PredictError(f"--cell names {', '.join(unknown)}, which the trials do not have; cells differ in "
                           f"{', '.join(keys) or 'nothing'}")
    match = best
    for key, value in cell.items():
        match = match[match[key].astype(str) == value]
    if match.empty:
        known = "; ".join(cell_name(r, keys) for _, r in best.iterrows())
        raise PredictError(f"no finished trial matches --cell {','.join(f'{k}={v}' for k, v in cell.items())}; "
                           f"the cells are: {known}")
    match = match.sort_values(exp.metric, ascending=exp.mode != "max", kind="stable")
    row = match.iloc[0]
    return final_checkpoint(row["trial_dir"]), row


def load_model(checkpoint: Path) -> tuple[models.TransferModel, dict]:
    """The trial's whole model (an off-the-shelf model.pt names its frozen backbone: models.load_model
    rebuilds it) and the file's metadata (classes, input size), read with weights_only loading."""
    payload = load_file(checkpoint / MODEL_FILE)
    return models.load_model(checkpoint / MODEL_FILE).eval(), payload


def read_images(paths: list[str], size: int) -> tuple[list[str], torch.Tensor]:
    """The images that decode, as a uint8 N x size x size x 3 batch; the others are named on stderr."""
    kept, pixels = [], []
    for path in paths:
        try:
            pixels.append(torch.from_numpy(decode_resized(path, size).copy()))  # PIL's buffer is read-only
            kept.append(path)
        except Exception as err:  # noqa: BLE001 - PIL raises many types (OSError, SyntaxError, ...); any means unreadable
            print(f"warning: cannot read {path} as an image ({type(err).__name__}: {err}); skipped", file=sys.stderr)
    return kept, torch.stack(pixels) if pixels else torch.zeros(0, size, size, 3, dtype=torch.uint8)


def predict(model: models.TransferModel, payload: dict, paths: list[str]) -> pd.DataFrame:
    """One row per readable image: image, top1_label, top1_prob, ..., top5_label, top5_prob."""
    kept, pixels = read_images(paths, int(payload["input_size"]))
    if not kept:
        raise PredictError(f"none of the {len(paths)} image(s) could be read; nothing to label")
    device = engine.default_device()
    engine.place(model, device)
    batches = [(pixels[i:i + BATCH], torch.zeros(len(pixels[i:i + BATCH]), dtype=torch.long))
               for i in range(0, len(pixels), BATCH)]
    logits, _ = engine.predict(model, batches, device, ToInput(model.info.mean, model.info.std))
    _, top = top_k(logits, list(payload["classes"]))
    return pd.concat([pd.DataFrame({"image": kept}), top], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment_dir", metavar="EXPERIMENT_DIR", help="the experiment folder <storage>/<name>")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files to label")
    parser.add_argument("--cell", metavar="KEY=VALUE,...", help="the cell whose best trial labels them, e.g. "
                        "model=resnet50,mode=fine_tune,task=material (default: the experiment's best)")
    parser.add_argument("--out", metavar="CSV", help="write the predictions here (default: print them as CSV)")
    args = parser.parse_args(argv)
    try:
        checkpoint, row = choose_trial(args.experiment_dir, parse_cell(args.cell))
        model, payload = load_model(checkpoint)
        table = predict(model, payload, args.images)
    except AnalysisError as err:
        return exit_on_error(PredictError(str(err)))
    except StudyError as err:
        return exit_on_error(err)
    print(f"labelled {len(table)} of {len(args.images)} image(s) with trial {row['trial']} "
          f"({payload['model']}, {len(payload['classes'])} classes)", file=sys.stderr)
    if args.out:
        spreadsheet.to_csv(table, Path(args.out), index=False)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
