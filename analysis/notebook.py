"""The report as a Jupyter notebook whose cells load the experiment and redraw every table and figure.

Each table and figure cell is the exact call the report made (`Call.source()`), so a user opens
report.ipynb and goes on from there: change an argument, filter `exp.trials`, draw something new.
It is executed when written (nbclient, a fresh python3 kernel), so it opens with every output drawn.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from analysis.blocks import FigureBlock, TableBlock
from study import atomic

CELL_TIMEOUT_S = 300  # a cell redraws one table or figure from files: seconds, unless the folder is huge


def build_notebook(blocks: list, title: str, intro: str, experiment: Path, report_dir: Path):
    setup = "\n".join([
        "%matplotlib inline",
        "from pathlib import Path",
        "",
        "from analysis import (decomposition, figures, figures_pruning, findings, per_class, significance, tables,",
        "                      transfer)",
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


def _kernel_env() -> dict:
    """The kernel imports the `analysis` that wrote the notebook, installed or not."""
    root = str(Path(__file__).resolve().parents[1])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))


def import_kernel_client() -> None:
    """Import here what `execute` imports, IPython included (jupyter_client imports it lazily, looking for
    kernel specs). Called before `execute` runs in another thread: matplotlib's savefig reads
    sys.modules["IPython"], and one still half-imported by that thread fails it ("partially initialized
    module 'IPython' has no attribute 'version_info'"; seen once in a run's report)."""
    try:
        import IPython.paths  # noqa: F401
        import ipykernel.kernelspec  # noqa: F401
        import nbclient  # noqa: F401
        from jupyter_client import KernelManager  # noqa: F401
    except ImportError:
        pass  # execute says what is missing


def execute(nb, folder: Path, timeout: int = CELL_TIMEOUT_S) -> str | None:
    """Run every cell in place (so report.ipynb opens with its tables and figures drawn); None when all ran,
    else one line saying why the notebook is left unexecuted. Runs in `folder`, in a fresh python3 kernel."""
    try:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import NoSuchKernel
    except ImportError:
        return "report.ipynb was written without outputs: executing it needs nbclient and ipykernel (pip install nbclient ipykernel)"
    try:
        with tempfile.TemporaryDirectory(prefix="artstudy-kernel-") as sockets:
            # IPC sockets in a private folder: the kernel listens on no TCP port at all
            km = KernelManager(kernel_name="python3", transport="ipc", ip=f"{sockets}/kernel")
            try:
                NotebookClient(nb, km=km, timeout=timeout,
                               resources={"metadata": {"path": str(folder)}}).execute(env=_kernel_env())
            finally:  # a kernel manager we pass in is ours to stop
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
    except CellExecutionError as err:
        first = next((line for line in str(err).splitlines() if line.strip()), "a cell failed")
        return f"report.ipynb was written, but a cell failed when it ran ({first[:200]}); open it to see which"
    except (NoSuchKernel, RuntimeError, TimeoutError) as err:  # no python3 kernel, or one that died or hung
        return f"report.ipynb was written without outputs: its kernel could not run it ({type(err).__name__}: {err})"
    return None


def write_notebook(nb, path: Path, run: bool = True) -> str | None:
    """Write the notebook, executed first when `run`; returns `execute`'s warning, if any."""
    problem = execute(nb, path.parent) if run else None
    text = nbformat.writes(nb)
    atomic.write_text(path, text if text.endswith("\n") else text + "\n")  # as nbformat.write ends it
    return problem
