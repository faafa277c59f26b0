"""The report as one HTML file: report.md rendered by markdown-it-py, its figures embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
img { max-width: 100%; }
"""


def render_html(markdown: str, title: str, folder: Path) -> str:
    """HTML for the report's Markdown; each image `figures/<stem>.png` is read from `folder` (saved first)
    and embedded, so the page shows its figures wherever it is opened. Raw HTML in the text is escaped."""
    md = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False}).enable("table")  # HTML5: <img>, not <img />
    tokens = md.parse(markdown)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                png = (folder / str(child.attrGet("src"))).read_bytes()
                child.attrSet("src", "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    body = md.renderer.render(tokens, md.options, {})
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
                      body, "</body>", "</html>", ""])
