"""Row f: peak resident memory of a trial, and of reading metadata, each in a fresh subprocess.

A trial's images live in the image cache, memory-mapped: pages of a file the kernel may drop at
any time, not memory the trial owns. What it owns is its anonymous memory (heap, tensors, copies),
so the probe samples /proc/self/status's RssAnon while it works and reports the peak, beside the
peak of everything resident (VmHWM, mapped pages included). "Flat in the collection's size" is
then measured as a ratio: of the pixels that 4x more images add to the task, the fraction that
ends up in the trial's anonymous memory (a copy of every image: 1.0; images read from the map: ~0).

Metadata: the peak anonymous memory of `read_collection` + `summarize` over N generated records
(1k, 10k, 100k; quick: 1k, 10k), less the interpreter's own before reading, projected linearly to
the Rijksmuseum's 112,039 records.

    python -m study.bench.memory trial ROOT CACHE [--images-of TASK]   # the probes the bench runs
    python -m study.bench.memory metadata ROOT CACHE
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from study.bench.rows import Row, ratio

TARGET_SHARE = 0.25  # at most a quarter of the added images' pixels may end up in the trial's own memory
METADATA_LIMIT_MB = 512.0  # "well under 1 GB" for 112,039 records
RIJKSMUSEUM_RECORDS = 112_039
# artist: a task that skips some images (anonymous). The split gives val and test 30% each, so that even
# the small probe's evaluation batches are full (64 images, study.trial.run_trial.EVAL_BATCH): with the
# default 10% its 33 val images made batches, and so activations, half the large probe's, a difference
# in peak memory that has nothing to do with how many images the trial holds.
TRIAL = {"task": "artist", "model": "tiny_cnn", "mode": "fine_tune", "weights": "none", "image_size": 224,
         "max_epochs": 1, "patience": 1, "batch_size": 32, "split": "0.4,0.3,0.3"}


def _status_kb(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakAnon:
    """Samples RssAnon every 5 ms in a thread; `.peak_mb` once stopped. Linux only (0 elsewhere)."""

    def __enter__(self) -> PeakAnon:
        self.peak_kb, self._stop = _status_kb("RssAnon"), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, _status_kb("RssAnon"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb("RssAnon"))

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def _probe_trial(root: str, cache: str) -> dict:
    from study.data import read_collection
    from study.trial.run_trial import run_trial

    collection = read_collection("demo", root)
    before = _status_kb("RssAnon") / 1024
    with PeakAnon() as anon:
        final = run_trial({**TRIAL, "collection": "demo", "data_root": root, "cache_dir": cache}, collection=collection)
    images = final["n_train"] + final["n_val"] + final["n_test"]
    return {"images": images, "anon_before_mb": before, "anon_peak_mb": anon.peak_mb,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _probe_metadata(root: str, cache: str) -> dict:
    from study.data import read_collection, summarize

    before = _status_kb("RssAnon") / 1024
    with PeakAnon() as anon:
        collection = read_collection("rijksmuseum", root)
        summarize(collection, cache_dir=cache)
    return {"records": len(collection), "anon_before_mb": before, "anon_peak_mb": anon.peak_mb}


def warm_cache(root: Path, cache: Path) -> None:
    from study.config import resolve_config
    from study.data import load_images, prepare_task, read_collection

    collection = read_collection("demo", root)
    cfg = resolve_config({**TRIAL, "collection": "demo", "data_root": str(root)})
    frame = prepare_task(collection, cfg.task, cache_dir=cache).frame
    load_images(collection, frame, cfg.image_size, cache_dir=cache)


# glibc raises its mmap threshold each time a large block is freed, so a trial's batch-sized tensors
# soon come from the heap, which keeps what they freed: the peak then wanders with the number of batches
# (measured at 1637 images: 799 and 947 MB in two runs of the same trial; at 407: 721 and 748). A fixed
# threshold returns every large block to the kernel: 658 and 662 MB at 407 and 1637 images, run after
# run. The row measures with it, to see what the trial holds rather than what the heap keeps; trials
# keep glibc's default, which trains twice as fast (resnet18, 64 px: 170-178 vs 78-89 img/s measured).
EXACT_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def probe(kind: str, root: Path, cache: Path, env: dict | None = None) -> dict:
    """Run one probe in a fresh interpreter (its peak is its own) and return what it printed."""
    done = subprocess.run([sys.executable, "-m", "study.bench.memory", kind, str(root), str(cache)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def metadata_projection(points: list[dict]) -> float:
    """MB at 112,039 records, on the line through the two largest measurements (work above the
    interpreter's own); one measurement scales by its records."""
    work = sorted((p["records"], p["anon_peak_mb"] - p["anon_before_mb"]) for p in points)
    if len(work) == 1:
        return work[0][1] * RIJKSMUSEUM_RECORDS / work[0][0]
    (n1, m1), (n2, m2) = work[-2], work[-1]
    slope = (m2 - m1) / (n2 - n1)
    return m2 + slope * (RIJKSMUSEUM_RECORDS - n2)


def row_f_from(small: dict, large: dict, size: int, metadata: list[dict], default: tuple[dict, dict] | None = None) -> Row:
    """`small`, `large`: the trial probes with EXACT_ALLOCATOR; `default`: the same two with glibc's default."""
    added_pixels_mb = (large["images"] - small["images"]) * size * size * 3 / 2**20
    added_anon_mb = large["anon_peak_mb"] - small["anon_peak_mb"]
    projected = metadata_projection(metadata)
    meta = ", ".join(f"{p['records']:,} records {p['anon_peak_mb'] - p['anon_before_mb']:.0f} MB" for p in metadata)
    as_run = (f"; with glibc's default allocator, as trials run: {default[0]['anon_peak_mb']:.0f} and "
              f"{default[1]['anon_peak_mb']:.0f} MB (its heap keeps freed batches, see study/bench/memory.py)"
              if default else "")
    return Row("f", "trial memory: share of added images' pixels held in RAM (4x images)",
               ratio(max(added_anon_mb, 0.0), added_pixels_mb), TARGET_SHARE, at_most=True,
               condition=projected <= METADATA_LIMIT_MB,
               detail=f"trial peak anon {small['anon_peak_mb']:.0f} MB at {small['images']} images, "
                      f"{large['anon_peak_mb']:.0f} MB at {large['images']} (+{added_pixels_mb:.0f} MB of pixels; "
                      f"peak RSS incl. mapped {large['rss_peak_mb']:.0f} MB){as_run}; metadata read+summary: {meta}; "
                      f"projected {projected:.0f} MB at 112,039 (limit {METADATA_LIMIT_MB:g})")


def row_f(quick: bool = False, workdir: Path | None = None) -> Row:
    from study.bench.data import write_records
    from study.data import write_demo

    small_n = 300 if quick else 500
    counts = (1000, 10_000) if quick else (1000, 10_000, 100_000)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        trials, default = [], []
        for n in (small_n, 4 * small_n):
            root = write_demo(tmp / f"demo{n}", images=n, seed=0)
            warm_cache(root, tmp / "cache")  # a study's trials find the image cache built: not a trial's cost
            trials.append(probe("trial", root, tmp / "cache", EXACT_ALLOCATOR))
            default.append(probe("trial", root, tmp / "cache"))
        metadata = []
        for n in counts:
            root = write_records(tmp / f"records{n}", n)
            metadata.append(probe("metadata", root, tmp / "cache"))
    return row_f_from(trials[0], trials[1], TRIAL["image_size"], metadata, tuple(default))


if __name__ == "__main__":
    kind, root, cache = sys.argv[1:4]
    print(json.dumps((_probe_trial if kind == "trial" else _probe_metadata)(root, cache)))
