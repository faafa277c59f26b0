"""The data-side benchmarks run end to end at a tiny size (their figures come from `python -m study.bench.data`)."""

import pytest

from study.bench import data as bench
from study.bench.data import data_benchmarks
from study.data import read_collection


def test_metadata_reading_times_the_collection_it_is_given(demo_root, tmp_path):
    result = bench.metadata_reading(root=demo_root, workdir=tmp_path)
    assert result["what"] == "metadata reading" and result["records"] == len(read_collection("demo", demo_root))


def test_the_target_scales_with_the_records():
    assert bench.meets_target(59.0, bench.RIJKSMUSEUM_RECORDS) and not bench.meets_target(61.0, bench.RIJKSMUSEUM_RECORDS)
    tenth = bench.RIJKSMUSEUM_RECORDS // 10  # a tenth of the records gets a tenth of the time
    assert bench.meets_target(5.9, tenth) and not bench.meets_target(6.1, tenth)


def test_image_cache_epoch_feeds_the_same_pixels_as_decoding(tmp_path):
    result = bench.image_cache_epoch(images=6, side=160, size=32, workdir=tmp_path)
    assert result["images"] == 6 and result["size"] == 32 and result["same_pixels"] is True


def test_quick_runs_every_listed_benchmark_at_its_quick_size(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.QUICK, "metadata_reading", {"records": 40})
    monkeypatch.setitem(bench.QUICK, "image_cache_epoch", {"images": 4, "side": 96})
    monkeypatch.setattr(bench.tempfile, "tempdir", str(tmp_path))
    results = data_benchmarks(quick=True)
    assert [r["what"] for r in results] == ["metadata reading", "image cache epoch"]
    assert results[0]["records"] == 40 and (results[1]["images"], results[1]["jpeg_side"]) == (4, 96)
