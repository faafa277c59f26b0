"""The report as one self-contained HTML file: tables inline, figures embedded as base64 PNG, no links out."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from analysis.blocks import Bullets, Code, FigureBlock, Heading, Para, TableBlock

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption, .caption { font-size: 0.85rem; color: #555; }
"""


def inline(text: str) -> str:
    """Markdown inline (`code`, **bold**) to HTML, everything else escaped."""
    out = html.escape(str(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w<>/])_([^_<>]+)_(?![\w])", r"<em>\1</em>", out)


def render_html(blocks: list, title: str, folder: Path) -> str:
    """HTML for `blocks`; figures are read back from `folder/figures/<stem>.png` (saved first)."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>"]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            parts.append(f"<p>{inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Code):
            parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif isinstance(block, TableBlock):
            table = block.table
            parts.append(f"<h3>{inline(table.title)}</h3>")
            parts.append(table.display.to_html(index=False, escape=True, border=0, na_rep="—")
                         if not table.display.empty else "<p><em>(no rows)</em></p>")
            parts.append(f'<p class="caption">{inline(table.caption)} Exports: '
                         f"<code>tables/{html.escape(block.stem)}.csv</code>, <code>.md</code>, <code>.tex</code>.</p>")
        elif isinstance(block, FigureBlock):
            png = (folder / "figures" / f"{block.stem}.png").read_bytes()
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt=\"{html.escape(block.title)}\" src=\"data:image/png;base64,{data}\">"
                         f"<figcaption><strong>{inline(block.title)}.</strong> {inline(block.caption)}"
                         "</figcaption></figure>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
