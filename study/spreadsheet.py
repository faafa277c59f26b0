"""CSV cells a spreadsheet will not run: text that begins like a formula is escaped.

A class label, a folder name or a task name is text from the collection, and a spreadsheet
opening a CSV runs a cell that begins with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return) as a formula: `=HYPERLINK(...)` as a folder name would become a live link.
OWASP's rule: prefix such a cell with a single quote, which spreadsheets show as text and hide.
Only text cells are touched: numbers, negative ones included, stay numbers.

Pure Python and pandas (no torch, no Ray): `analysis` uses it for every CSV it writes.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """`value` with a leading `'` when it is text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def escape_frame(frame):
    """A copy of a DataFrame whose text cells, column names and index labels are escaped."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith(("string", "str", "category")):
            out[column] = out[column].map(escape_cell, na_action="ignore")
    out.columns = [escape_cell(c) for c in out.columns]
    out.index = out.index.map(escape_cell)
    return out


def to_csv(frame, path=None, **kwargs):
    """`frame.to_csv(...)` with every text cell escaped; with a path, written atomically."""
    text = escape_frame(frame).to_csv(**kwargs)
    if path is None:
        return text
    from study.atomic import write_text

    return write_text(path, text)
