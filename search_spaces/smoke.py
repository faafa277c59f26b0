"""smoke: two tiny trials (a tiny CNN, off the shelf and fine-tuned) for tests and a first check.

    python -m study.run --space smoke
"""

from search_spaces.registry import MODES, Space, register_space
from study.config import PAPER_RECIPE

SPACE = register_space(
    Space(
        name="smoke",
        question="Does a trial run end to end through Ray Tune (data, model, checkpoints, report)?",
        scientific={"mode": MODES},
        fixed={**PAPER_RECIPE, "model": "tiny_cnn", "weights": "none", "task": "material",
               "image_size": 32, "batch_size": 16, "max_epochs": 2, "patience": 2},
        why={
            "mode": "both code paths: a head on cached features, and every layer trained",
            "model": "a tiny CNN that trains in seconds on a CPU",
            "weights": "random initialisation: nothing to download",
        },
        budget="2 trials, under a minute on one CPU core (plus Ray's start).",
        example="",
        notes="Not a study: it checks the installation. Tests run it on a small demo collection.",
    )
)
