"""study.formatting: the one way a config value is shown (runner lines, progress, report tables)."""

import math

import numpy as np

from study.formatting import format_value


def test_values_as_people_write_them():
    assert [format_value(v) for v in (0.001, 1e-05, 3.0, 7, True, False, "resnet50")] == \
        ["0.001", "1e-05", "3", "7", "true", "false", "resnet50"]
    assert format_value(np.float64(0.25)) == "0.25" and format_value(np.int64(4)) == "4"


def test_missing_values_and_digits():
    assert format_value(None) == format_value(math.nan) == "—"
    assert format_value(None, missing="") == ""
    assert format_value(0.123456789) == "0.123457" and format_value(0.123456789, digits=3) == "0.123"


def test_an_earlier_trials_model_is_named_by_its_trial():
    path = "/results/x-source/train_ab12c_00003_3/checkpoint_000004/model.pt"
    assert format_value(path) == "source:train_ab12c_00003_3"
