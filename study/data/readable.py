"""Which images can be used: one definitive verdict per file, decoded once and remembered.

An image is *unreadable* when it is missing, empty, not an image or cannot be decoded (PIL opens
it and decodes every byte; truncated files fail). The split depends on this verdict, so `summary`
and every trial must agree on it, yet decoding 112k museum JPEGs for every trial would hold a study
up. So each verdict is kept in `<cache>/readable/<collection key>.json`, keyed by the file's path
relative to the root, its size and its mtime: a file that changes is checked again. JPEGs are
decoded at 1/8 scale (`draft`), which still reads the whole entropy-coded stream, so a truncated or
corrupt file fails just as it would at full size, at a fraction of the cost.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from study import atomic
from study.config import default_cache_dir
from study.data.collection import Collection, writable_folder
from study.data.decode import decodes_all
from study.data.parallel import check_not_bootstrapping, chunked, map_chunks, worth_processes

CHUNK = 500  # images per worker task


def file_stat(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a regular file, None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


def _load(memo_file: Path) -> dict:
    try:
        return json.loads(memo_file.read_text())
    except (OSError, ValueError):  # absent, or damaged by hand: check again rather than trust it
        return {}


def memo_path(collection: Collection, cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "readable" / f"{collection.key}.json"


def readable(collection: Collection, paths: Sequence[str], cache_dir: str | Path | None = None) -> np.ndarray:
    """A bool per path (absolute paths of `collection`'s images): can it be decoded?"""
    check_not_bootstrapping()  # before the lock, which a re-imported script's worker would wait on forever
    paths = list(paths)
    verdict = np.zeros(len(paths), dtype=bool)
    stats = [file_stat(p) for p in paths]
    prefix = str(collection.root) + os.sep
    relative = [p[len(prefix):] if p.startswith(prefix) else p for p in paths]
    memo_file = memo_path(collection, cache_dir)
    writable_folder(memo_file.parent, "readability verdicts")
    # The lock makes a second trial wait for the first one's check instead of repeating it.
    with FileLock(str(memo_file) + ".lock"):
        memo = _load(memo_file)
        todo = []
        for i, (rel, st) in enumerate(zip(relative, stats)):
            if st is None or st[0] == 0:
                continue  # missing, not a file, or empty: unreadable without decoding anything
            known = memo.get(rel)
            if known is not None and known[0] == st[0] and known[1] == st[1]:
                verdict[i] = known[2]
            else:
                todo.append(i)
        if todo:
            results = map_chunks(decodes_all, chunked([paths[i] for i in todo], CHUNK), desc="checking images",
                                 unit="img", processes=worth_processes(len(todo), sum(stats[i][0] for i in todo)))
            for i, ok in zip(todo, (ok for chunk in results for ok in chunk)):
                verdict[i] = ok
                memo[relative[i]] = [stats[i][0], stats[i][1], ok]
            atomic.write_text(memo_file, json.dumps(memo))
    return verdict
