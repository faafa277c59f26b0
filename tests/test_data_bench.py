"""The data-side benchmarks run end to end at a tiny size (their figures come from `python -m study.bench.data`)."""

from study.bench import data as bench


def test_metadata_reading_reports_its_timings(tmp_path):
    result = bench.metadata_reading(records=120, workdir=tmp_path)
    assert result["what"] == "metadata reading" and result["records"] == 120
    assert result["summary_cold_s"] >= 0 and result["summary_warm_s"] >= 0 and result["target_met"] in (True, False)


def test_image_cache_epoch_reports_a_speedup(tmp_path):
    result = bench.image_cache_epoch(images=6, side=160, size=32, workdir=tmp_path)
    assert result["images"] == 6 and result["speedup"] > 0


def test_every_listed_benchmark_takes_quick():
    import inspect

    for name in bench.BENCHMARKS:
        assert "quick" in inspect.signature(getattr(bench, name)).parameters
