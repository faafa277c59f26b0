"""Data-side timings: reading the metadata of a Rijksmuseum-sized collection; an epoch from the image cache.

    python -m study.bench.data            # both, full size: minutes, mostly writing (and deleting) 224k files
    python -m study.bench.data metadata --records 5000   # or --root DIR: an existing collection
    python -m study.bench.data images --quick --json

`metadata_reading` writes N Dublin Core records (the demo's generator) with a tiny JPEG each, then
times what `python -m study.data summary` does: read every record, check each labelled image once
(cold), and again with the verdicts remembered (warm). The target: well under a minute for the
real collection's 112,039 records on 2 cores. `image_cache_epoch` times one pass over museum-sized
JPEGs (decode + resize every image, as an uncached epoch does) against one pass over the image
cache, and reports the ratio: row c of `python -m study.bench`.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from study.bench.rows import Row, ratio
from study.data.demo import MARKER, object_number, record_xml, sample_labels
from study.data.demo_paint import paint
from study.data.decode import decode_resized
from study.data.images import load_images
from study.data.parallel import available_cpus
from study.data.registry import read_collection
from study.data.summary import summarize

RIJKSMUSEUM_RECORDS = 112_039
TARGET_S = 60.0
BENCHMARKS = ("metadata_reading", "image_cache_epoch")  # each takes quick=
# What --quick runs instead of the full sizes: a smoke run in seconds.
QUICK = {"metadata_reading": {"records": 5000}, "image_cache_epoch": {"images": 60, "side": 1024}}
TARGET_C = 5.0


def meets_target(summary_s: float, records: int) -> bool:
    """Whether a cold summary of `records` records is on pace for TARGET_S at the real collection's size."""
    return summary_s < TARGET_S * records / RIJKSMUSEUM_RECORDS


def write_records(out: Path, records: int, seed: int = 0) -> Path:
    """`records` demo-style records in the Rijksmuseum layout, each with the same tiny JPEG (fast to write)."""
    (out / "xml2").mkdir(parents=True)
    (out / "jpg2").mkdir()
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    rng = np.random.default_rng(seed)
    for i, (material, kind, artist) in enumerate(sample_labels(records, seed)):
        identifier = object_number(rng, kind)
        stem = f"{i + 1:07d}_{identifier}"
        (out / "xml2" / f"{stem}.xml").write_text(record_xml(rng, identifier, material, kind, artist), "utf-8")
        (out / "jpg2" / f"{stem}.jpg").write_bytes(jpeg)
    (out / MARKER).write_text(json.dumps({"generator": "artstudy bench", "records": records}))
    return out


def metadata_reading(records: int = RIJKSMUSEUM_RECORDS, quick: bool = False, workdir: str | Path | None = None,
                     root: str | Path | None = None) -> dict:
    """Seconds to write, read and summarise `records` records (5,000 with quick), or those already in `root`."""
    records = QUICK["metadata_reading"]["records"] if quick else records
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        start = time.perf_counter()
        root = Path(root) if root else write_records(Path(tmp) / "rijksmuseum", records)
        written = time.perf_counter()

        def summary() -> float:
            begin = time.perf_counter()
            summarize(read_collection("rijksmuseum", root), cache_dir=Path(tmp) / "cache")
            return time.perf_counter() - begin

        begin = time.perf_counter()
        records = len(read_collection("rijksmuseum", root))
        read_s = time.perf_counter() - begin
        cold_s, warm_s = summary(), summary()
    return {
        "what": "metadata reading", "records": records, "cpus": available_cpus(),
        "write_s": round(written - start, 1), "read_records_s": round(read_s, 1),
        "summary_cold_s": round(cold_s, 1), "summary_warm_s": round(warm_s, 1),
        "target_s": TARGET_S, "target_met": meets_target(cold_s, records),
        "command": "python -m study.data summary --collection rijksmuseum --root DIR",
    }


def write_museum_jpegs(out: Path, images: int, side: int, seed: int = 0) -> Path:
    """A `folder` collection of `images` JPEGs whose long side is `side` px, like museum scans (~1-3 MB).

    Ten distinct paintings, each written as several files: decoding costs the same, painting is slow."""
    encoded = []
    for i in range(min(images, 10)):
        buffer = io.BytesIO()
        Image.fromarray(paint(np.random.default_rng([seed, i]), side * 3 // 4, side, i, i, i)).save(
            buffer, format="JPEG", quality=92)
        encoded.append(buffer.getvalue())
    for i in range(images):
        folder = out / f"class{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.jpg").write_bytes(encoded[i % len(encoded)])
    return out


def image_cache_epoch(images: int = 200, side: int = 2000, size: int = 224, quick: bool = False,
                      workdir: str | Path | None = None) -> dict:
    """One epoch decoding JPEGs vs one epoch from the image cache (60 images of 1024 px with quick)."""
    if quick:
        images, side = QUICK["image_cache_epoch"]["images"], QUICK["image_cache_epoch"]["side"]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = write_museum_jpegs(Path(tmp) / "museum", images, side)
        cache = Path(tmp) / "cache"
        collection = read_collection("folder", root)
        frame = collection.table  # every image, whatever its split
        megabytes = sum(Path(p).stat().st_size for p in frame["path"]) / 1e6

        begin = time.perf_counter()
        decoded = [decode_resized(path, size) for path in frame["path"]]
        decode_s = time.perf_counter() - begin

        begin = time.perf_counter()
        load_images(collection, frame, size, cache_dir=cache)
        build_s = time.perf_counter() - begin

        begin = time.perf_counter()
        pixels = load_images(collection, frame, size, cache_dir=cache)
        for start in range(0, len(pixels), 32):  # batches as a loader would take them
            np.ascontiguousarray(pixels[start : start + 32]).sum()
        cached_s = time.perf_counter() - begin
        same = bool(np.array_equal(np.stack(decoded), pixels))  # both epochs fed the model the same pixels
    return {
        "what": "image cache epoch", "images": len(frame), "jpeg_side": side, "jpeg_mb": round(megabytes / len(frame), 2),
        "size": size, "decode_epoch_s": round(decode_s, 2), "cache_build_s": round(build_s, 2),
        "cached_epoch_s": round(cached_s, 4), "speedup": round(ratio(decode_s, cached_s), 1),
        "same_pixels": same,
    }


def data_benchmarks(quick: bool) -> list[dict]:
    """Every benchmark named in BENCHMARKS, at its QUICK size with quick (what `python -m study.bench.data` prints)."""
    return [globals()[name](quick=quick) for name in BENCHMARKS]


def row_c(quick: bool = False, workdir: str | Path | None = None) -> Row:
    """Museum-sized JPEGs (2000 x 1500) at the paper's 224 px; quick: fewer of them."""
    return row_c_from(image_cache_epoch(images=24 if quick else 200, side=2000, workdir=workdir))


def row_c_from(r: dict) -> Row:
    return Row("c", "epoch: image cache vs decoding museum-sized JPEGs (speed-up)",
               r["speedup"], TARGET_C, condition=bool(r["same_pixels"]),
               detail=f"{r['images']} JPEGs of {r['jpeg_side']} px (~{r['jpeg_mb']} MB) at {r['size']} px: "
                      f"{r['decode_epoch_s']} s decoding, {r['cached_epoch_s']} s from the cache "
                      f"(built once in {r['cache_build_s']} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="?", choices=("all", "metadata", "images"), default="all")
    parser.add_argument("--records", type=int, default=RIJKSMUSEUM_RECORDS, help="records for metadata (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in seconds")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--workdir", default=None, help="where to write the generated files (default: system temp)")
    parser.add_argument("--root", default=None, help="metadata: time this Rijksmuseum-layout folder instead of "
                                                     "generated records (e.g. the real collection)")
    args = parser.parse_args(argv)
    results = []
    if args.which in ("all", "metadata"):
        results.append(metadata_reading(args.records, quick=args.quick, workdir=args.workdir, root=args.root))
    if args.which in ("all", "images"):
        results.append(image_cache_epoch(quick=args.quick, workdir=args.workdir))
    for r in results:
        if args.json:
            print(json.dumps(r))
        elif r["what"] == "metadata reading":
            print(f"metadata: {r['records']} records on {r['cpus']} CPUs: read {r['read_records_s']} s; summary "
                  f"{r['summary_cold_s']} s the first time (checks every labelled image), {r['summary_warm_s']} s "
                  f"after (verdicts remembered); target < {r['target_s']:g} s for 112,039: "
                  f"{'met' if r['target_met'] else 'NOT met'} (writing them took {r['write_s']} s)")
        else:
            print(f"image cache: {r['images']} JPEGs of {r['jpeg_side']} px (~{r['jpeg_mb']} MB) at {r['size']} px: "
                  f"decoding epoch {r['decode_epoch_s']} s, cached epoch {r['cached_epoch_s']} s: {r['speedup']}x "
                  f"faster (building the cache took {r['cache_build_s']} s, once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
