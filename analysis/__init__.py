"""analysis: from a Ray Tune experiment folder to the paper's tables, learning curves and a notebook.

    from analysis import load_experiment, tables, figures
    exp = load_experiment("artstudy-results/grid_paper")
    tables.paper_table(exp.trials, nuisance=exp.roles.nuisance, metric=exp.metric, mode=exp.mode)
    figures.learning_curves(exp.history)

    python -m analysis.report EXPERIMENT_DIR [--out DIR]     # everything, into EXPERIMENT_DIR/report/

Needs pandas and matplotlib and the folder: no Ray session, no torch (never imported here).
"""

from analysis.errors import AnalysisError, AnalysisWarning
from analysis.load import Experiment, load_experiment, load_history, load_study, load_trials

__all__ = ["AnalysisError", "AnalysisWarning", "Experiment", "figures", "load_experiment", "load_history",
           "load_study", "load_trials", "tables", "write_report"]


def __getattr__(name):
    # Lazy: `python -m analysis.report` must not find analysis.report imported already, and
    # `import analysis` should not pay for matplotlib until a figure is drawn.
    if name == "write_report":
        from analysis.report import write_report

        return write_report
    if name in ("tables", "figures", "reference"):
        import importlib

        return importlib.import_module(f"analysis.{name}")
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
