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
