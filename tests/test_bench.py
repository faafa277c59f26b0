"""The feature-cache benchmark runs end to end (tiny settings: its figures are for `python -m study.bench`)."""

import pytest

from study.bench.feature_cache import feature_cache_speedup


def test_feature_cache_bench_reports_a_ratio_and_equal_accuracy(tmp_path):
    result = feature_cache_speedup(model="tiny_cnn", size=32, images=150, epochs=3, workdir=tmp_path)
    # the ratio compares the cache filled by the trial, then already filled, against no cache at all
    assert result["feature_cache"] == ["miss", "hit", "off"]
    assert result["test_acc_diff"] == 0.0 and result["val_loss_rel_diff"] < 1e-5
    assert result["epochs"] == 3 and result["model"] == "tiny_cnn"


def test_only_runs_the_rows_asked_for_and_quick_reaches_them(monkeypatch, capsys):
    from study.bench import cli
    from study.bench.rows import Row

    calls = []

    def fake(letters):
        def row(quick, workdir):
            calls.append((letters, quick))
            return [Row(letter, f"row {letter}", 1.0, 1.0) for letter in letters]
        return row

    monkeypatch.setattr(cli, "row_functions", lambda: {"a": fake("a"), "b": fake("b"), "gh": fake("gh")})
    rows = cli.run_rows("ah", quick=True, log=lambda *a, **k: None)
    assert calls == [("a", True), ("gh", True)]  # b is not run; g+h is one function, h of it kept
    assert [r.letter for r in rows] == ["a", "h"]
    with pytest.raises(SystemExit) as stop:
        cli.main(["--only", "az"])
    assert stop.value.code == 2 and "--only takes letters of abcdefghi, not z" in capsys.readouterr().err
