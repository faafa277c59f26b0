"""Turn an experiment folder into a report: tables, figures, report.md, report.html and report.ipynb.

    python -m analysis.report artstudy-results/grid_paper             # -> artstudy-results/grid_paper/report/
    python -m analysis.report artstudy-results/grid_paper --out /tmp/r

Reads only the folder (study.json and the Ray Tune trial folders); works on a finished or a running
experiment: trials that are running, errored or stopped by a scheduler are reported as such. What could
not be read is listed as a warning in the report and on stderr. `study.run` calls `write_report` at the
end of a run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from analysis.blocks import Bullets, Call, Code, FigureBlock, Heading, Para, Ref, TableBlock
from analysis.errors import AnalysisError
from analysis.load import Experiment, load_experiment
from analysis.report_predictions import extend_plan, findings_blocks
from analysis.roles import REPLICATE_KEYS, declared_bounds, varied_keys
from study import atomic, spreadsheet  # pure Python: no torch, no Ray
from study.contract import REPORT_DIR
from study.formatting import format_value

OUTPUTS = """\
writes into the report folder (default EXPERIMENT_DIR/report/):
  report.md      the question, hyperparameter roles, commands, tables and figures
  report.html    the same, self-contained (figures embedded)
  report.ipynb   a notebook whose cells load the folder and redraw each table and figure
  tables/        every table as .csv (numbers), .md and .tex
  figures/       every figure as .png and .svg
  data/          trials.csv (one row per trial) and history.csv (one row per trial and epoch)"""

STATUS_WORDS = {"finished": "finished", "stopped": "stopped early by the scheduler", "errored": "errored",
                "unfinished": "unfinished (running, or the run was interrupted)", "pending": "pending"}


# ---------------------------------------------------------------- what goes in


def _values_text(trials: pd.DataFrame, key: str, limit: int = 8) -> str:
    if key not in trials or trials.empty:
        return f"`{key}`"
    values = list(dict.fromkeys(trials[key].map(format_value)))
    numeric = pd.to_numeric(trials[key], errors="coerce")
    if len(values) > limit and numeric.notna().all():
        return f"`{key}` ({format_value(numeric.min())} … {format_value(numeric.max())}, {len(values)} values)"
    shown = ", ".join(values[:limit]) + (", …" if len(values) > limit else "")
    if key == "weights" and "weights_used" in trials:  # what was asked for, and what the trials started from
        used = list(dict.fromkeys(trials["weights_used"].dropna().map(format_value)))
        if used and used != values:
            shown += "; used: " + ", ".join(used)
    return f"`{key}` ({shown})"


def _labels_study(exp: Experiment, finished: pd.DataFrame) -> bool:
    if {"top_k", "min_per_class"} & set(exp.roles.scientific):
        return True
    if "num_classes" not in finished or "task" not in finished:
        return False
    return bool((finished.groupby("task")["num_classes"].nunique() > 1).any())


def plan(exp: Experiment, analysis_command: str) -> list:
    """The report's blocks, in order; which tables and figures appear depends on what the folder holds."""
    return [Para(exp.study.get("question") or "_study.json gives no question._"), *findings_blocks(exp),
            *_trials_blocks(exp),
            *_roles_blocks(exp), *_provenance_blocks(exp, analysis_command),
            Heading("Data"), TableBlock("dataset", Call("tables", "dataset_table", (Ref("study"), Ref("trials")))),
            Heading("Results"), *_result_blocks(exp), *_all_trials_blocks(exp)]


def _finished(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["status"] == "finished"] if len(trials) else trials


def _has_test(trials: pd.DataFrame) -> bool:
    finished = _finished(trials)
    return "test_acc" in finished and finished["test_acc"].notna().any()


def _trials_blocks(exp: Experiment) -> list:
    """How many trials, in which state, and what could not be read."""
    trials = exp.trials
    counts = trials["status"].value_counts() if len(trials) else pd.Series(dtype=int)
    summary = ", ".join(f"{counts[s]} {STATUS_WORDS[s]}" for s in STATUS_WORDS if s in counts)
    blocks: list = [Heading("Trials"), Para(
        f"{len(trials)} trial(s)" + (f": {summary}." if summary else ".")
        + ("" if counts.get("finished", 0) == len(trials) else
           " Only finished trials have test metrics; the others appear in the curves and the trials table."))]
    if exp.warnings:
        blocks += [Heading("Warnings", 3), Bullets(list(exp.warnings))]
    return blocks


def _roles_blocks(exp: Experiment) -> list:
    """What was compared, what optimised away, what held fixed, with the values each took."""
    trials, roles = exp.trials, exp.roles
    items = [
        "**scientific** (compared): " + (", ".join(_values_text(trials, k) for k in roles.scientific) or "none"),
        "**nuisance** (optimised away, on "
        f"`{exp.metric}` {'max' if exp.mode == 'max' else 'min'}): "
        + (", ".join(_values_text(trials, k) for k in roles.nuisance) or "none"),
        "**fixed**: " + (", ".join(_values_text(trials, k, 1) if k in trials else f"`{k}` (not recorded)"
                                   for k in roles.fixed) or "none"),
    ]
    if roles.replicates:
        items.append("**replicates** (averaged; spread = sample std, ddof=1): "
                     + ", ".join(_values_text(trials, k) for k in roles.replicates))
    if roles.guessed:
        items.append("_roles guessed from what varies: study.json does not give them_")
    return [Heading("Hyperparameter roles"), Bullets(items)]


def _provenance_blocks(exp: Experiment, analysis_command: str) -> list:
    """The commands that made the experiment and this report, and the versions."""
    study = exp.study
    versions = study.get("versions") or {}
    return [Heading("How this was produced"),
            Code(study.get("command") or "# the run's command is unknown (no study.json)"),
            Code(analysis_command),
            Para("Versions: " + (", ".join(f"{k} {v}" for k, v in versions.items()) or "unknown")
                 + (f"; created {study['created']}" if study.get("created") else "")
                 + (f"; budget {study['budget']}" if study.get("budget") else "") + ".")]


def _result_blocks(exp: Experiment) -> list:
    """The tables and figures the folder's results allow, each only where it has something to show."""
    trials, roles = exp.trials, exp.roles
    selection = {"metric": Ref("metric"), "mode": Ref("mode")}
    blocks: list = []
    if _has_test(trials):
        blocks.append(TableBlock("paper_table", Call("tables", "paper_table", (Ref("trials"),), {
            "scientific": Ref("roles.scientific"), "nuisance": Ref("roles.nuisance"), **selection})))
    if len(trials) and exp.metric in trials and trials[exp.metric].notna().any():
        blocks.append(TableBlock("isolation", Call("tables", "isolation_table", (Ref("trials"),), {
            "scientific": Ref("roles.scientific"), "nuisance": Ref("roles.nuisance"), **selection})))
    if len(exp.history):
        metric = "val_acc" if "val_acc" in exp.history else exp.metric
        blocks.append(FigureBlock(
            "learning_curves", "Learning curves",
            f"`{metric}` against epoch, one line per trial, a panel per task, a colour per model (and per "
            "weights used, where they vary); solid = fine-tune, dashed = off-the-shelf. End markers: o = finished "
            "(early stopping or max_epochs), X = stopped by the scheduler or errored; no marker = still running.",
            Call("figures", "learning_curves", (Ref("history"),), {"metric": metric, "trials": Ref("trials")})))
    if _has_test(trials) and _labels_study(exp, _finished(trials)):
        blocks += _labels_blocks(exp, selection)
    blocks += _nuisance_blocks(exp) + _grid_blocks(exp)
    return blocks


def _labels_blocks(exp: Experiment, selection: dict) -> list:
    """The label-pruning study: accuracy against the number of classes kept."""
    finished = _finished(exp.trials)
    collection = (exp.study.get("collection") or {}).get("collection") or (
        finished["collection"].iloc[0] if "collection" in finished else "")
    mensink = collection == "rijksmuseum" and "artist" in set(finished.get("task", []))
    return [
        *_decomposition_blocks(exp),
        TableBlock("labels_kept", Call("tables", "labels_table", (Ref("trials"),), {
            "nuisance": Ref("roles.nuisance"), **selection})),
        FigureBlock(
            "accuracy_vs_classes", "Accuracy against the number of classes kept",
            "Test accuracy (left) and balanced accuracy = mean class accuracy, MCA (right) against the number of "
            "classes kept, log x; mean over finished seeds, bars = sample std (ddof=1); a line per model x mode."
            + (" Dotted black: Mensink & van Gemert (2014), Fisher vectors + SVM, MCA for the artist task as "
               "the most productive artists are kept (hollow square: 374 artists plus a 'rest' class)."
               if mensink else ""),
            Call("figures", "accuracy_vs_classes", (Ref("trials"),), {"mensink": mensink})),
    ]


def _decomposition_blocks(exp: Experiment) -> list:
    """Whether a rung's gain is an easier test or better learning (analysis/decomposition.py)."""
    from analysis.decomposition import decomposition_frame, sentences

    selection = {"scientific": Ref("roles.scientific"), "nuisance": Ref("roles.nuisance"), "metric": Ref("metric"),
                 "mode": Ref("mode")}
    frame = decomposition_frame(exp.trials, exp.path, scientific=exp.roles.scientific, nuisance=exp.roles.nuisance,
                                metric=exp.metric, mode=exp.mode)
    if frame.empty:
        return [Para("_No finished trial saved its test predictions: the gain of fewer classes cannot be split "
                     "into an easier test and retraining._")]
    return [Heading("Fewer classes: an easier test, or better learning?", 3), Bullets(sentences(frame)),
            FigureBlock("pruning_decomposition", "Classes kept: the rung's own model against the full rung's model "
                        "on the same easier test",
                        "A row per series. Left: test accuracy against the classes kept (log x) of the rung's own "
                        "model (retrained on the kept classes) and of the full rung's model on the rung's test "
                        "images, its logits restricted to the rung's classes, with 95% Wilson intervals; chance = "
                        "always the training split's majority class, and 1/K. Right: Cohen's kappa of the same "
                        "answers (0 = chance; undefined with one class), 95% bootstrap intervals.",
                        Call("figures_pruning", "pruning_decomposition", (Ref("trials"), Ref("path")), selection)),
            TableBlock("pruning_decomposition", Call("decomposition", "decomposition_table",
                                                     (Ref("trials"), Ref("path")), selection))]


def _nuisance_blocks(exp: Experiment) -> list:
    """One slice plot per nuisance hyperparameter that varied, and whether a best value sits at an edge."""
    trials, roles = exp.trials, exp.roles
    sweep = [k for k in varied_keys(trials, roles.nuisance)] if len(trials) else []
    if not sweep or exp.metric not in trials:
        return []
    call = Call("figures", "slice_plots", (Ref("trials"), list(sweep)), {
        "metric": exp.metric, "mode": exp.mode, "by": [k for k in varied_keys(trials, roles.scientific)],
        "bounds": declared_bounds(exp.study)})
    return [FigureBlock(
        "slices", "Nuisance hyperparameters",
        f"`{exp.metric}` at each trial's best epoch against each nuisance hyperparameter, one point per "
        "trial, a colour per scientific combination. A red ring marks a best value (mean over seeds) that lies "
        "in the outer tenth of the declared search range (on its log scale for a log-uniform key; for a grid, "
        "between its lowest and highest values, of which it needs three) and is strictly better than every "
        "value farther in; a tie for best is never flagged. There the range should be widened before the "
        "comparison is trusted.",
        call), Para(_edge_text(exp, call))]


def _edge_text(exp: Experiment, call: Call) -> str:
    from analysis.figures import edge_flags  # matplotlib: only once a report is written

    flags = edge_flags(exp.trials, call.args[1], call.kwargs["metric"], call.kwargs["mode"], call.kwargs["by"],
                       call.kwargs["bounds"])
    edge = flags[flags["at_edge"]]
    if flags.empty:
        return "No numeric nuisance hyperparameter took two values or more."
    if edge.empty:
        return "No numeric nuisance hyperparameter has a clear best in the outer tenth of its range."
    return "Best value in the outer tenth of its range and better than every value farther in (widen it): " + \
        "; ".join(f"`{r.param}` = {format_value(r.best_value)} for {r.group} "
                  f"({'declared' if r.declared else 'tried'} {format_value(r.low)} … {format_value(r.high)})"
        for r in edge.itertuples()) + "."


def _grid_blocks(exp: Experiment) -> list:
    """A heatmap of every combination of the varied hyperparameters, where it stays readable."""
    trials, roles = exp.trials, exp.roles
    grid = [k for k in varied_keys(trials, [*roles.scientific, *roles.nuisance]) if k not in REPLICATE_KEYS] \
        if len(trials) else []
    heat_metric = "test_acc" if _has_test(trials) else exp.metric
    if not grid or heat_metric not in trials:
        return []
    cols = "mode" if "mode" in grid else min(grid, key=lambda k: trials[k].astype(str).nunique())
    rows = [k for k in grid if k != cols]
    n_rows = trials[rows].astype(str).drop_duplicates().shape[0] if rows else 1
    if n_rows > 60:
        return []
    return [FigureBlock(
        "grid", "The grid at a glance",
        f"Mean `{heat_metric}` over seeds for every combination of the varied hyperparameters; "
        "empty cells were not run or have not finished.",
        Call("figures", "grid_heatmap", (Ref("trials"), rows, cols), {"metric": heat_metric}))]


def _all_trials_blocks(exp: Experiment) -> list:
    keys = [k for k in varied_keys(exp.trials, exp.config_keys)] if len(exp.trials) else []
    return [Heading("All trials"), TableBlock("trials", Call("tables", "trials_table", (Ref("trials"),),
                                                             {"keys": keys, "metric": exp.metric}))]


# ---------------------------------------------------------------- rendering


def _markdown(blocks: list, title: str) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Para):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Code):
            lines += ["```", block.text, "```", ""]
        elif isinstance(block, TableBlock):
            t = block.table
            lines += [f"### {t.title}", "", t.to_markdown(), "", f"_{t.caption}_ "
                      f"([csv](tables/{block.stem}.csv), [md](tables/{block.stem}.md), "
                      f"[tex](tables/{block.stem}.tex))", ""]
        elif isinstance(block, FigureBlock):
            lines += [f"### {block.title}", "", f"![{block.title}](figures/{block.stem}.png)", "",
                      f"_{block.caption}_ ([svg](figures/{block.stem}.svg))", ""]
    return "\n".join(lines)


def _analysis_command(root: Path, out: Path) -> str:
    args = ["python", "-m", "analysis.report", str(root)]
    if out != root / REPORT_DIR:
        args += ["--out", str(out)]
    return shlex.join(args)


def write_report(experiment_dir, out=None) -> Path:
    """Write every table, figure, report.md, report.html and report.ipynb; return the report folder.

    Raises AnalysisError when `experiment_dir` is not an experiment folder.
    """
    return _write(experiment_dir, out)[0]


def _write(experiment_dir, out=None) -> tuple[Path, Experiment]:
    from analysis.export import save_figure, save_table  # matplotlib, only when writing
    from analysis.html import render_html
    from analysis.notebook import build_notebook, import_kernel_client, write_notebook

    exp = load_experiment(experiment_dir)
    out = Path(out).expanduser().resolve() if out else exp.path / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    data.mkdir(exist_ok=True)
    spreadsheet.to_csv(exp.trials, data / "trials.csv", index=False)
    spreadsheet.to_csv(exp.history, data / "history.csv", index=False)

    blocks = extend_plan(exp, plan(exp, _analysis_command(exp.path, out)))
    for block in blocks:  # the tables first: the notebook's headings are their titles
        if isinstance(block, TableBlock):
            block.table = block.call.run(exp)
            save_table(block.table, out / "tables")

    space = exp.study.get("space") or "experiment"
    title = exp.name if exp.name == space else f"{space}: {exp.name}"  # the runner names an experiment after its space
    notebook = build_notebook(blocks, title, exp.study.get("question") or "", exp.path, out)
    # The notebook runs in its own kernel process while this one renders the figures: the two overlap on
    # two cores (the main job's report: ~13 s of kernel beside ~17 s of figures).
    import_kernel_client()  # in this thread, before the kernel's: see its docstring
    with ThreadPoolExecutor(max_workers=1) as pool:
        executed = pool.submit(write_notebook, notebook, out / "report.ipynb")
        for block in blocks:
            if isinstance(block, FigureBlock):
                save_figure(block.call.run(exp), out / "figures", block.stem)
        markdown = _markdown(blocks, title)
        atomic.write_text(out / "report.md", markdown)
        atomic.write_text(out / "report.html", render_html(markdown, title, out))
        problem = executed.result()
    if problem:
        exp.warnings.append(problem)
    return out, exp


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.report",
        description="Report on a Ray Tune experiment folder written by `python -m study.run` (finished or "
                    "still running): the paper's Table 2 layout, the isolation table, learning curves, "
                    "accuracy against the number of classes kept, and a notebook to go on from. "
                    "Needs only pandas and matplotlib: no Ray session, no torch.",
        epilog=OUTPUTS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment_dir", metavar="EXPERIMENT_DIR",
                        help="the experiment folder <storage>/<name> (holds study.json and one folder per trial)")
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default: EXPERIMENT_DIR/report)")
    args = parser.parse_args(argv)
    try:
        out, exp = _write(args.experiment_dir, args.out)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an --out that cannot be written
        print(f"error: cannot write the report: {exc}", file=sys.stderr)
        return 2
    for message in exp.warnings:
        print(f"warning: {message}", file=sys.stderr)
    tables = sorted(p.stem for p in (out / "tables").glob("*.csv"))
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    print(f"wrote the report to {out}/")
    print("  report.md, report.html, report.ipynb")
    print(f"  tables/  {', '.join(tables)} (.csv .md .tex)")
    print(f"  figures/ {', '.join(figures) or '(none yet)'} (.png .svg)")
    print("  data/    trials.csv, history.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
