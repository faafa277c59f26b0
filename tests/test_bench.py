"""The feature-cache benchmark runs end to end (tiny settings: its figures are for `python -m study.bench`)."""

from study.bench.feature_cache import feature_cache_speedup


def test_feature_cache_bench_reports_a_ratio_and_equal_accuracy(tmp_path):
    result = feature_cache_speedup(model="tiny_cnn", size=32, images=150, epochs=3, workdir=tmp_path)
    # the ratio compares the cache filled by the trial, then already filled, against no cache at all
    assert result["feature_cache"] == ["miss", "hit", "off"]
    assert result["test_acc_diff"] == 0.0 and result["val_loss_rel_diff"] < 1e-5
    assert result["epochs"] == 3 and result["model"] == "tiny_cnn"
