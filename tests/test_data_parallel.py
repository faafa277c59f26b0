"""Worker processes: the same answers as one process, and a clear error (not a hang) for an unguarded script."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from study.data.decode import decode_resized, decodes_all, fill_rows
from study.data.dublin_core import parse_files
from study.data.parallel import chunked, map_chunks

REPO = Path(__file__).resolve().parents[1]


def both_ways(fn, items, size):
    chunks = chunked(items, size)
    here = list(map_chunks(fn, chunks, desc="test", processes=False))
    there = list(map_chunks(fn, chunks, desc="test", processes=True, workers=2))
    return here, there


def test_records_and_image_checks_give_the_same_answers_in_workers(demo_root):
    records = [str(p) for p in sorted((demo_root / "xml2").glob("*.xml"))[:120]]
    here, there = both_ways(parse_files, records + ["/no/such/record.xml"], 40)
    assert here == there and here[-1][-1] == [(None, "bad_metadata")] * 3
    images = [str(p) for p in sorted((demo_root / "jpg2").glob("*.jpg"))[:50]]
    here, there = both_ways(decodes_all, images + [str(demo_root / "demo.json")], 20)
    assert here == there == [[True] * 20, [True] * 20, [True] * 10 + [False]]


def test_workers_fill_their_rows_of_one_array(demo_root, tmp_path):
    images = [str(p) for p in sorted((demo_root / "jpg2").glob("*.jpg"))[:30]]
    array = tmp_path / "pixels.npy"
    np.lib.format.open_memmap(array, mode="w+", dtype=np.uint8, shape=(len(images), 20, 20, 3)).flush()
    jobs = [(str(array), 20, row, path) for row, path in enumerate(images)]
    flags = [ok for chunk in map_chunks(fill_rows, chunked(jobs, 8), desc="test", processes=True) for ok in chunk]
    assert flags == [True] * len(images)
    assert np.array_equal(np.load(array), np.stack([decode_resized(p, 20) for p in images]))


def test_an_unguarded_script_gets_an_error_not_a_hang(tmp_path, demo_root):
    script = tmp_path / "unguarded.py"
    script.write_text("from study.data.decode import decodes_all\n"
                      "from study.data.parallel import map_chunks\n"
                      f"print(list(map_chunks(decodes_all, [['{demo_root}/demo.json'], ['x']], desc='check', "
                      "processes=True)))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert 'keep its code under `if __name__ == "__main__":`' in done.stderr.splitlines()[-1]
