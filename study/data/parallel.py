"""Run a function over chunks of a long list in worker processes, with a progress bar on stderr.

Used for the three slow passes over a collection: parsing 112k XML records, checking that images
decode, and filling the image cache. Workers never fork from the calling process: these passes also
run inside Ray trials and next to torch, whose threads a fork would copy in a locked state. They
fork from a fork server instead (Python 3.14's default on Linux), or are spawned where there is none.
Both import the main script once more, so a script that calls these passes must keep its code under
`if __name__ == "__main__":` (as on macOS and Windows); `check_not_bootstrapping` turns the
alternative, a worker waiting forever on its parent's lock, into an error that says so.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from tqdm import tqdm

from study.errors import StudyError

T = TypeVar("T")

# A fork server: a clean process started once per parent, from which each worker forks in
# milliseconds. Spawn (Windows) starts every worker from scratch, importing the main module again.
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
# Starting workers costs ~0.5-3 s (the fork server imports the main script, workers import lxml or
# PIL). In-process, a record parses in ~50 us and a small JPEG is checked in ~0.2 ms, a museum scan
# (~2 MB) in ~10 ms: so processes pay off from ~20,000 files, or ~200 MB of images.
MIN_FILES_FOR_PROCESSES = 20_000
MIN_BYTES_FOR_PROCESSES = 200_000_000
# Below this many items (and without worker processes) a pass is over before a bar is worth reading.
MIN_ITEMS_FOR_BAR = 5000


def available_cpus() -> int:
    """Worker processes to use: $ARTSTUDY_WORKERS (1 = all work in this process), else the CPUs this
    process may run on (taskset narrows them; Ray, by default, does not)."""
    env = os.environ.get("ARTSTUDY_WORKERS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


GUARD = ('a script that reads collections must keep its code under `if __name__ == "__main__":` '
         "(worker processes import it again)")


class WorkerError(StudyError, RuntimeError):
    """Worker processes could not run; the message says why."""


def check_not_bootstrapping() -> None:
    """Raise in a spawned worker that is still importing its parent's main script."""
    # multiprocessing's own guard against this case is the same (private) flag.
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise WorkerError(GUARD)


def chunked(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def worth_processes(files: int, total_bytes: int = 0) -> bool:
    return files >= MIN_FILES_FOR_PROCESSES or total_bytes >= MIN_BYTES_FOR_PROCESSES


def map_chunks(
    fn: Callable[[Any], list],
    chunks: Sequence[Sequence[Any]],
    *,
    desc: str,
    processes: bool,
    unit: str = "file",
    workers: int | None = None,
) -> Iterator[list]:
    """Yield fn(chunk) for each chunk, in order, in worker `processes` or in this one.

    fn must be a module-level function (picklable) of a module that imports little (see decode.py)."""
    total = sum(len(chunk) for chunk in chunks)
    workers = min(workers or available_cpus(), len(chunks))
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=1.0,
               disable=total < MIN_ITEMS_FOR_BAR and not processes, leave=False)
    with bar:
        if workers <= 1 or not processes:
            for chunk in chunks:
                yield fn(chunk)
                bar.update(len(chunk))
            return
        check_not_bootstrapping()
        context = multiprocessing.get_context(START_METHOD)
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                for chunk, result in zip(chunks, pool.map(fn, chunks)):
                    yield result
                    bar.update(len(chunk))
        except BrokenProcessPool:
            raise WorkerError(f"worker processes for {desc!r} died (see their messages above); "
                              f"if this is a script: {GUARD}; else memory may have run out") from None
