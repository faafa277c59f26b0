"""Paint one demo image: each task's class leaves its own visual trace, plus noise.

- material -> the ground: a base colour and a texture (paper grain, canvas weave, wood grain, ...);
- type     -> a dark silhouette in the middle: disc, square, triangle, bars, ring, cross, ...;
- artist   -> hatching over everything: its angle, spacing, line width and ink colour.

The traces are additive and independent, so a CNN can learn each task from the same image, while
per-image jitter (colour, position, size, rotation, stroke phase), pixel noise and a share of images
painted in another class's style keep it from being perfect. Colour alone separates most materials,
and ink colour part of the artists, so even a linear model on pixels beats the majority class.
"""

from __future__ import annotations

import numpy as np

# (base RGB in [0, 1], texture). Neighbours in colour (paneel/hout, zilver/tin) are confusable on purpose.
GROUNDS = [
    ((0.93, 0.89, 0.78), "grain"), ((0.42, 0.27, 0.16), "brush"), ((0.76, 0.69, 0.52), "weave"),
    ((0.56, 0.38, 0.21), "wood"), ((0.64, 0.47, 0.30), "wood"), ((0.30, 0.32, 0.45), "grain"),
    ((0.78, 0.80, 0.84), "brushed"), ((0.95, 0.96, 0.98), "smooth"), ((0.55, 0.42, 0.20), "speckle"),
    ((0.86, 0.80, 0.60), "smooth"), ((0.90, 0.87, 0.80), "weave"), ((0.55, 0.75, 0.70), "smooth"),
    ((0.72, 0.45, 0.30), "brushed"), ((0.70, 0.72, 0.74), "speckle"), ((0.60, 0.20, 0.18), "grain"),
    ((0.25, 0.45, 0.30), "weave"),
]
SHAPES = ["disc", "square", "triangle", "hbar", "vbar", "ring", "cross", "diamond",
          "triangle_down", "frame", "two_discs", "half_disc", "ellipse"]
INKS = [(0.08, 0.07, 0.06), (0.45, 0.28, 0.12), (0.15, 0.20, 0.50), (0.70, 0.25, 0.15), (0.35, 0.42, 0.35)]


def hatching(k: int) -> tuple[float, float, float, tuple[float, float, float]]:
    """Artist k's hatching: angle (radians), spacing and line width (pixels), ink colour.
    7 angles x 3 spacings x 5 inks: distinct for every k below 105."""
    angle = np.deg2rad(26.0 * (k % 7))
    spacing = (7.0, 10.0, 13.0)[k % 3]
    width = spacing * (0.25, 0.45)[(k // 7) % 2]
    return angle, spacing, width, INKS[k % 5]


def _texture(kind: str, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = x.shape
    if kind == "grain":
        return rng.uniform(-1, 1, (h, w))
    if kind == "weave":
        return np.sin(x * 2.1) * np.sin(y * 2.1)
    if kind == "wood":
        return np.sin((y + 4 * np.sin(x / 13 + rng.uniform(0, 6))) * 0.9)
    if kind == "brushed":
        return np.repeat(rng.uniform(-1, 1, (h, 1)), w, axis=1)
    if kind == "speckle":
        return np.where(rng.uniform(0, 1, (h, w)) < 0.06, -2.0, 0.0)
    if kind == "brush":
        return np.sin((x + y) / 5 + rng.uniform(0, 6)) * rng.uniform(0.3, 1, (h, w))
    return (x / w - 0.5) + 0.5 * (y / h - 0.5)  # smooth: a gentle gradient


def _shape(kind: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Mask of a shape of radius r centred at u = v = 0 (u right, v down)."""
    au, av = np.abs(u), np.abs(v)
    if kind == "disc":
        return u**2 + v**2 < r**2
    if kind == "square":
        return np.maximum(au, av) < 0.85 * r
    if kind == "triangle":
        return (v < 0.7 * r) & (v > -r + 1.7 * au)
    if kind == "triangle_down":
        return (v > -0.7 * r) & (v < r - 1.7 * au)
    if kind == "hbar":
        return (au < 1.1 * r) & (av < 0.35 * r)
    if kind == "vbar":
        return (av < 1.1 * r) & (au < 0.35 * r)
    if kind == "ring":
        return (u**2 + v**2 < r**2) & (u**2 + v**2 > (0.6 * r) ** 2)
    if kind == "cross":
        return ((au < 0.3 * r) & (av < r)) | ((av < 0.3 * r) & (au < r))
    if kind == "diamond":
        return au + av < 1.1 * r
    if kind == "frame":
        return (np.maximum(au, av) < r) & (np.maximum(au, av) > 0.7 * r)
    if kind == "two_discs":
        return ((u - 0.55 * r) ** 2 + v**2 < (0.45 * r) ** 2) | ((u + 0.55 * r) ** 2 + v**2 < (0.45 * r) ** 2)
    if kind == "half_disc":
        return (u**2 + v**2 < r**2) & (v > 0)
    return (u / 1.2) ** 2 + (v / 0.6) ** 2 < r**2  # ellipse


def paint(rng: np.random.Generator, height: int, width: int, ground: int, shape: int, artist: int) -> np.ndarray:
    """An RGB uint8 image (height, width, 3) in the given classes' styles (indices into the tables)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    colour, texture = GROUNDS[ground % len(GROUNDS)]
    base = np.clip(np.array(colour) + rng.normal(0, 0.035, 3), 0, 1)
    image = base * (1 + 0.10 * _texture(texture, rng, x, y))[..., None]

    # The silhouette: placed and sized with jitter, slightly rotated, a darker tone of the ground.
    side = min(height, width)
    cx, cy = width / 2 + rng.normal(0, 0.07 * width), height / 2 + rng.normal(0, 0.07 * height)
    turn = rng.normal(0, 0.12)
    u = (x - cx) * np.cos(turn) + (y - cy) * np.sin(turn)
    v = -(x - cx) * np.sin(turn) + (y - cy) * np.cos(turn)
    mask = _shape(SHAPES[shape % len(SHAPES)], u, v, rng.uniform(0.26, 0.40) * side)
    image[mask] = base * rng.uniform(0.35, 0.55)

    # The hatching: ink lines over everything, at a random phase so only angle, spacing, width and ink identify it.
    angle, spacing, line, ink = hatching(artist)
    along = x * np.cos(angle) + y * np.sin(angle) + rng.uniform(0, spacing)
    strokes = (np.mod(along, spacing) < line) * rng.uniform(0.30, 0.50)
    image = image * (1 - strokes[..., None]) + np.array(ink) * strokes[..., None]

    image += 0.045 * rng.standard_normal(image.shape, dtype=np.float32)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
