"""Collections -> labelled image tables; readability; pruning and the exact split; image cache; demo.

    from study.data import read_collection, prepare_task, load_images
    collection = read_collection("rijksmuseum", "/data/rijksmuseum")   # or ("demo") for the embedded one
    task = prepare_task(collection, "material", min_per_class=10, split_seed=0)
    pixels = load_images(collection, task.frame, size=224)             # (n, 224, 224, 3) uint8

Command lines: `python -m study.data --help` (demo, summary) and `python -m study.bench.data`.
No torch and no Ray here: this layer is plain pandas, lxml and PIL.

Files, one job each: collection.py (the Collection table, shared record rules), dublin_core.py
(the Rijksmuseum labelling rules), rijksmuseum.py, imet.py, folder.py, csvlabels.py (one reader per
layout), registry.py (readers by name), decode.py (one image -> pixels or a verdict), readable.py
(which images decode, remembered), split.py (pruning, split, drop counters), summary.py, images.py
(the image cache), demo.py + demo_paint.py (the synthetic collection), parallel.py (worker
processes). The data layer's timings are study/bench/data.py.

The names below are imported on first use (PEP 562), so that a worker process, which imports only
the module of the function it runs, does not pay for pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DROP_KEYS": "collection", "Collection": "collection", "DataError": "collection",
    "ensure_demo": "demo", "write_demo": "demo",
    "decode_resized": "decode", "load_images": "images",
    "list_collections": "registry", "read_collection": "registry",
    "TaskData": "split", "prepare_task": "split", "split_sizes": "split",
    "format_summary": "summary", "summarize": "summary",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what linters and IDEs see
    from study.data.collection import DROP_KEYS, Collection, DataError
    from study.data.decode import decode_resized
    from study.data.demo import ensure_demo, write_demo
    from study.data.images import load_images
    from study.data.registry import list_collections, read_collection
    from study.data.split import TaskData, prepare_task, split_sizes
    from study.data.summary import format_summary, summarize


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'study.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"study.data.{_EXPORTS[name]}"), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
