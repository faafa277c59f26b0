"""A config value as people read it, the same in the runner's lines and in the report's tables and figures."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

from study.contract import MODEL_FILE


def format_value(value: Any, missing: str = "—", digits: int = 6) -> str:
    """0.001 -> 0.001, 1e-05 -> 1e-05, True -> true, an earlier trial's `<trial>/<checkpoint>/model.pt` ->
    source:<trial>; None or NaN -> `missing`; a float to `digits` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, str) and value.endswith(f"/{MODEL_FILE}"):
        return f"source:{PurePath(value).parent.parent.name}"
    return str(value)
