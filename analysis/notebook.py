"""The report as a Jupyter notebook whose cells load the experiment and redraw every table and figure.

Each table and figure cell is the exact call the report made (`Call.source()`), so a user opens
report.ipynb and goes on from there: change an argument, filter `exp.trials`, draw something new.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from analysis.blocks import FigureBlock, TableBlock
from study import atomic


def build_notebook(blocks: list, title: str, intro: str, experiment: Path, report_dir: Path):
    setup = "\n".join([
        "%matplotlib inline",
        "from pathlib import Path",
        "",
        "from analysis import figures, tables",
        "from analysis.load import load_experiment",
        "",
        f"EXPERIMENT = Path({str(experiment)!r})  # the experiment folder; edit this line if you moved it",
        "exp = load_experiment(EXPERIMENT)",
        "for message in exp.warnings:",
        "    print('warning:', message)",
        "exp.trials['status'].value_counts()",
    ])
    cells = [
        new_markdown_cell(f"# {title}\n\n{intro}\n\nWritten by `python -m analysis.report`; each cell below "
                          "redraws one table or figure of the report from the experiment folder with "
                          "`analysis`'s own functions. `exp.trials` has one row per trial, `exp.history` "
                          "one row per trial and epoch."),
        new_code_cell(setup),
    ]
    for block in blocks:
        if isinstance(block, TableBlock):
            cells.append(new_markdown_cell(f"## {block.table.title}\n\n{block.table.caption}"))
            cells.append(new_code_cell(block.call.source()))
        elif isinstance(block, FigureBlock):
            cells.append(new_markdown_cell(f"## {block.title}\n\n{block.caption}"))
            cells.append(new_code_cell(block.call.source()))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


def write_notebook(nb, path: Path) -> Path:
    text = nbformat.writes(nb)
    atomic.write_text(path, text if text.endswith("\n") else text + "\n")  # as nbformat.write ends it
    return path
