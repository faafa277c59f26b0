"""Named search spaces: each declares what it studies and which hyperparameters play which role.

    >>> from search_spaces import list_spaces, get_space
    >>> list_spaces()
    ['cross_collection', 'grid_paper', 'label_pruning', 'lr_sweep', 'smoke']

Adding a space: a module that calls `register_space(Space(...))`, and one import line below.
"""

from search_spaces.registry import Context, Space, Stage, get_space, list_spaces, register_space

# One line per space (importing a module registers it).
from search_spaces import grid_paper  # noqa: E402,F401
from search_spaces import label_pruning  # noqa: E402,F401
from search_spaces import lr_sweep  # noqa: E402,F401
from search_spaces import cross_collection  # noqa: E402,F401
from search_spaces import smoke  # noqa: E402,F401

__all__ = ["Context", "Space", "Stage", "get_space", "list_spaces", "register_space"]
