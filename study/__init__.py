"""artstudy: Ray Tune studies of transfer learning on art collections.

Importing this package is cheap on purpose (no torch, no Ray): `analysis` and the command
lines' `--help` must not pay for them.
"""

__version__ = "0.1.0"
