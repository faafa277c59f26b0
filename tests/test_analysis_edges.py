"""The boundary warning: a best value in the outer tenth of the declared range, clearly better than the values
farther in; never a tie, never the mere end of what a few samples happened to try."""

import pandas as pd

from analysis.figures import edge_flags
from analysis.roles import declared_bounds

BOUNDS = {"lr": {"kind": "loguniform", "low": 1e-5, "high": 1e-1}}  # lr_sweep's range: 4 decades


def _trials(cells: dict) -> pd.DataFrame:
    return pd.DataFrame([{"model": model, "lr": lr, "val_acc": acc, "status": "finished"}
                         for model, points in cells.items() for lr, acc in points])


def test_only_a_clear_best_in_the_outer_tenth_of_the_declared_range_is_flagged():
    trials = _trials({
        # best 4e-3: the highest tried, but log10 position (-2.4 + 5) / 4 = 0.65 of the declared range
        "mid": [(5e-4, 0.40), (1e-3, 0.45), (4e-3, 0.50)],
        # best 5e-2: position (-1.3 + 5) / 4 = 0.92, past 0.9, and better than both values farther in
        "outer": [(1e-3, 0.40), (1e-2, 0.45), (5e-2, 0.50)],
        # 6e-2 (position 0.94) ties with 1e-3 for best: no verdict
        "tie": [(1e-3, 0.50), (1e-2, 0.45), (6e-2, 0.50)],
        # best 2e-5 (position 0.075, the low tenth), better than the rest
        "low": [(2e-5, 0.60), (1e-3, 0.45), (1e-2, 0.40)],
    })
    flags = edge_flags(trials, ["lr"], "val_acc", "max", ["model"], BOUNDS).set_index("group")
    assert flags["at_edge"].to_dict() == {"low": True, "mid": False, "outer": True, "tie": False}
    assert flags.loc["outer", "side"] == "high" and flags.loc["low", "side"] == "low"
    assert flags["declared"].all() and flags.loc["mid", "high"] == 1e-1


def test_study_json_bounds_and_older_distribution_strings_give_the_same_range():
    assert declared_bounds({"bounds": BOUNDS}) == BOUNDS
    assert declared_bounds({"distributions": {"lr": "log-uniform[1e-05, 0.1]", "batch_size": "one of {16, 32}"}}) \
        == BOUNDS
    assert declared_bounds({"search": "grid"}) == {}
