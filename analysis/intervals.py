"""How far a test accuracy can be trusted: its 95% interval for the number of test images.

A demo test split holds ~40 images, so one image is 2.5 points and two backbones 5 points apart may
not differ at all. Every test accuracy the report prints carries the Wilson score interval of a
binomial proportion (scipy's `binomtest(...).proportion_ci(method="wilson")`): the accuracy's
correct count is round(accuracy x n_test), whose interval it is.

    >>> wilson(0.75, 40)   # 30 of 40 right
    (0.598..., 0.858...)
"""

from __future__ import annotations

import math

LEVEL = 0.95
CAPTION = ("[a, b] = 95% Wilson interval of an accuracy measured on n_test test images "
           "(for a mean over seeds: of that mean, at one run's n_test)")


def wilson(accuracy: float, n_test: float, level: float = LEVEL) -> tuple[float, float]:
    """(low, high) fractions for `accuracy` (a fraction) on `n_test` images; NaNs when either is missing."""
    if accuracy is None or n_test is None or math.isnan(float(accuracy)) or math.isnan(float(n_test)) or n_test < 1:
        return math.nan, math.nan
    from scipy.stats import binomtest

    n = int(n_test)
    k = min(n, max(0, int(round(float(accuracy) * n))))
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def fmt_interval(low: float, high: float, factor: float = 100.0) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f" [{low * factor:.1f}, {high * factor:.1f}]"
