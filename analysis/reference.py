"""The published numbers the report compares with, loaded from the package's `published/` folder.

Values are percentages as printed in the papers (results in an experiment are fractions; tables
multiply those by 100). `published/README.md` gives the citations.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

SABATELLI_2018 = (
    "Sabatelli, Kestemont, Daelemans, Geurts, \"Deep Transfer Learning for Art Classification Problems\", "
    "ECCV Workshops 2018, Table 2"
)
MENSINK_2014 = (
    "Mensink & van Gemert, \"The Rijksmuseum Challenge: Museum-Centered Visual Recognition\", ICMR 2014"
)


def _read(name: str) -> pd.DataFrame:
    with resources.files("analysis").joinpath("published", name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def sabatelli2018_rijksmuseum() -> pd.DataFrame:
    """Table 2: test accuracy (%) per `challenge` (task) and `model`, columns `off_the_shelf`, `fine_tune`."""
    return _read("sabatelli2018_rijksmuseum.csv")


def sabatelli2018_antwerp() -> pd.DataFrame:
    """Table 3 (Antwerp collection): ImageNet vs Rijksmuseum-fine-tuned starting weights."""
    return _read("sabatelli2018_antwerp.csv")


def sabatelli2018_dataset() -> pd.DataFrame:
    """The paper's Rijksmuseum collection per task: `task`, `classes`, `images`."""
    return _read("sabatelli2018_rijksmuseum_dataset.csv")


def mensink2014_artists_kept() -> pd.DataFrame:
    """MCA (%) of the 2014 baseline against `artists_kept`; `rest_class` marks the row that includes a rest class."""
    frame = _read("mensink2014_artists_kept.csv")
    frame["rest_class"] = frame.index == 0  # the paper's first row (375 = 374 artists + "rest")
    return frame
