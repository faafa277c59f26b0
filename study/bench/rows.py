"""One row of the bench's table: a measured ratio, its target, and whether it is met.

Every comparison ends as a ratio between two runs of the same moment (or a count), so that a
busy machine changes both sides alike: `Row.met` compares the ratio with the target in the
row's direction (`at_least` for speed-ups, `at_most` for overheads, counts and sizes).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    letter: str  # a..h, the rows
    what: str  # the comparison, in a few words
    ratio: float
    target: float
    at_most: bool = False  # True: the ratio must not exceed the target (overhead, passes, MB); else reach it
    detail: str = ""  # the figures behind the ratio
    condition: bool = True  # a second requirement that the ratio alone cannot say (e.g. same accuracy)

    @property
    def met(self) -> bool:
        if not math.isfinite(self.ratio):
            return False
        reached = self.ratio <= self.target if self.at_most else self.ratio >= self.target
        return bool(reached and self.condition)

    def as_dict(self) -> dict:
        return {"ratio": round(self.ratio, 4) if math.isfinite(self.ratio) else None, "target": self.target,
                "met": self.met, "detail": self.detail}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN where the denominator is not positive (nothing measured)."""
    return numerator / denominator if denominator > 0 else math.nan


def table(rows: list[Row]) -> str:
    """A markdown table: the README's Performance section prints exactly this."""
    lines = ["| # | comparison | ratio | target | met | detail |", "|---|---|---|---|---|---|"]
    for row in rows:
        shown = f"{row.ratio:.3g}" if math.isfinite(row.ratio) else "n/a"
        target = f"{'<=' if row.at_most else '>='} {row.target:g}"
        lines.append(f"| {row.letter} | {row.what} | {shown} | {target} | {'yes' if row.met else 'NO'} | {row.detail} |")
    return "\n".join(lines)


def as_json(rows: list[Row]) -> str:
    """One line: {"a": {"ratio", "target", "met", "detail"}, ...}."""
    return json.dumps({row.letter: row.as_dict() for row in rows})
