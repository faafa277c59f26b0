"""Numbers the tests expect, worked out by a second method (a closed form), not by the code under test."""

import math


def wilson_closed_form(accuracy: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out (Wilson 1927), a second method beside analysis.intervals'
    scipy call: centre (p + z^2/2n) / (1 + z^2/n), half-width z / (1 + z^2/n) x sqrt(p(1-p)/n + z^2/4n^2),
    for p = round(accuracy x n) / n."""
    p = round(accuracy * n) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def mcnemar_closed_form(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p: P(X <= min) + P(X >= max) for X ~ Bin(only_a + only_b, 1/2), summed by hand."""
    n, low = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2 ** n
    return min(1.0, 2 * tail)
