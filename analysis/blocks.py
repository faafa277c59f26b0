"""The pieces a report is made of, shared by its Markdown (which the HTML renders) and notebook renderings.

A report is a list of blocks. Tables and figures are `Call`s: a function of `analysis.tables` or
`analysis.figures` applied to parts of the loaded `Experiment` (`Ref("trials")` = `exp.trials`). The
report runs each call once and saves its result; the notebook writes the same call as code, so its cells
redraw exactly what the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """An attribute path of the Experiment, e.g. Ref("roles.nuisance") -> exp.roles.nuisance."""

    path: str

    def resolve(self, exp) -> Any:
        value = exp
        for part in self.path.split("."):
            value = getattr(value, part)
        return value

    def __repr__(self) -> str:  # the notebook's source for it
        return f"exp.{self.path}"


@dataclass(frozen=True)
class Call:
    module: str  # a module of analysis: "tables", "figures", "per_class", "significance", "transfer"
    func: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def run(self, exp):
        import importlib  # figures pulls in matplotlib; only when drawing

        module = importlib.import_module(f"analysis.{self.module}")
        resolve = lambda v: v.resolve(exp) if isinstance(v, Ref) else v  # noqa: E731
        return getattr(module, self.func)(*map(resolve, self.args),
                                          **{k: resolve(v) for k, v in self.kwargs.items()})

    def source(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.module}.{self.func}({', '.join(parts)})"


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str  # Markdown inline: `code`, **bold**


@dataclass
class Bullets:
    items: list


@dataclass
class Code:
    text: str


@dataclass
class TableBlock:
    stem: str
    call: Call
    table: Any = None  # the Table, once run


@dataclass
class FigureBlock:
    stem: str
    title: str
    caption: str
    call: Call
