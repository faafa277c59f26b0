"""`python -m study.bench`: every performance comparison of a study, side by side, as one table.

    python -m study.bench                 # every row at full size (~15 min on 2 cores, the main job included)
    python -m study.bench --quick         # every row small (about three minutes on 2 cores)
    python -m study.bench --json          # the table, then one JSON line {"a": {"ratio", "target", "met", "detail"}, ...}
    python -m study.bench --only ab       # some rows
    python -m study.bench --device cuda   # on a GPU (study/bench/gpu.sh runs the GPU checks)
    python -m study.bench --backbones     # also: images/s of each paper backbone

Machines are shared and noisy, so every row is a ratio between two runs of the same moment (or a
count), never a time checked against a constant:

a  feature cache vs the frozen backbone every epoch (study/bench/feature_cache.py)
b  fine-tune images/s under Ray Tune vs a bare loop; d  image cache vs tensors in memory (loop.py)
c  an epoch from the image cache vs decoding museum-sized JPEGs (data.py)
e  label_pruning's backbone passes per image, counted from the feature store (passes.py)
f  a trial's memory as the collection grows, metadata memory at Rijksmuseum size (memory.py)
g  the main job's experiment folder on disk; h  its wall time not spent in epochs (experiment.py)
i  the demo's fine-tuned efficientnet_lite0 trial under Ray Tune vs the fastest bare loop, with GFLOP/s (finetune.py)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from study.bench.rows import Row, as_json, table
from study.errors import StudyError, exit_on_error

LETTERS = "abcdefghi"


def row_functions() -> dict[str, Callable[..., list[Row] | Row]]:
    from study.bench import data, experiment, feature_cache, finetune, loop, memory, passes

    return {"a": feature_cache.row_a, "b": loop.row_b, "c": data.row_c, "d": loop.row_d, "e": passes.row_e,
            "f": memory.row_f, "gh": experiment.rows_g_h, "i": finetune.row_i}


def run_rows(letters: str, quick: bool, workdir: Path | None = None, log=print) -> list[Row]:
    rows: list[Row] = []
    for key, function in row_functions().items():
        if not set(key) & set(letters):
            continue
        start = time.perf_counter()
        got = function(quick=quick, workdir=workdir)
        got = got if isinstance(got, list) else [got]
        rows += [r for r in got if r.letter in letters]
        log(f"  {'+'.join(r.letter for r in got)}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return rows


def ram_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return float("nan")


def machine() -> str:
    import platform

    import torch

    from study.data.parallel import available_cpus

    cpu = platform.processor() or platform.machine()
    try:  # Linux names the CPU model here; platform.processor() often says only "x86_64"
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {available_cpus()} CPU core(s) for this process, {ram_gib():.0f} GiB "
            f"RAM, {device}, torch {torch.__version__} with {torch.get_num_threads()} thread(s); load average {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: about three minutes on 2 CPU cores")
    parser.add_argument("--json", action="store_true", help="end with one JSON line keyed by row letter")
    parser.add_argument("--only", default=LETTERS, help="the rows to run, e.g. 'ace' (default: all)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where trials run (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--backbones", action="store_true", help="also time each paper backbone")
    parser.add_argument("--size", type=int, default=75, help="--backbones: input size in pixels (default: %(default)s)")
    parser.add_argument("--workdir", default=None, help="where to write the generated files (default: system temp)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(LETTERS)
    if unknown:
        parser.error(f"--only takes letters of {LETTERS}, not {''.join(sorted(unknown))}")
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch looks for a GPU; Ray's workers inherit it
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        return exit_on_error(StudyError("--device cuda, but torch sees no GPU here; use --device cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    from study.trial.allocator import keep_freed_memory

    keep_freed_memory()  # as trials run (study/run/trainable.py); row f's probes set their own allocator
    print(f"machine: {machine()}", file=sys.stderr)
    try:
        rows = run_rows(args.only, args.quick, Path(args.workdir) if args.workdir else None)
        if args.backbones:
            from study.bench.feature_cache import backbone_speeds, print_backbones

            print_backbones(backbone_speeds(size=args.size))
    except StudyError as err:
        return exit_on_error(err)
    print(table(rows))
    if args.json:
        print(as_json(rows))
    return 0
