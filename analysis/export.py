"""Saving tables (CSV, Markdown, LaTeX) and figures (PNG, SVG) to a report folder."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from analysis.tables import Table
from study import atomic

TABLE_FORMATS = ("csv", "md", "tex")
FIGURE_FORMATS = ("png", "svg")


def save_table(table: Table, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "csv": table.to_csv(),
        "md": f"**{table.title}**\n\n{table.to_markdown()}\n\n_{table.caption}_\n",
        "tex": table.to_latex(),
    }
    paths = []
    for ext in TABLE_FORMATS:
        path = folder / f"{table.name}.{ext}"
        atomic.write_text(path, texts[ext])
        paths.append(path)
    return paths


def save_figure(fig: Figure, folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FIGURE_FORMATS:
        path = folder / f"{stem}.{ext}"
        # No dates or software names inside: the same experiment gives byte-identical files.
        metadata = {"Date": None} if ext == "svg" else {"Software": None}
        with matplotlib.rc_context({"svg.hashsalt": "artstudy"}):
            with atomic.atomic_path(path) as temp:
                fig.savefig(temp, format=ext, dpi=120, metadata=metadata)
        paths.append(path)
    return paths
