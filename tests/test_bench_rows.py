"""The bench's logic on tiny inputs: rows and their arithmetic, the pass count, the table and JSON line.

No timing is asserted anywhere: `python -m study.bench` prints the figures; these tests check that
the figures it prints are computed right and that its rows keep their shape.
"""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.bench import experiment, loop, memory, passes
from study.bench.cli import LETTERS, main
from study.bench.feature_cache import row_a_from
from study.bench.rows import Row, as_json, ratio, table


@given(st.floats(0, 1e6), st.floats(0.01, 1e6), st.booleans())
def test_a_row_is_met_on_the_right_side_of_its_target(value, target, at_most):
    row = Row("x", "thing", value, target, at_most=at_most)
    assert row.met == (value <= target if at_most else value >= target)
    assert Row("x", "thing", value, target, at_most=at_most, condition=False).met is False


def test_nothing_measured_is_never_met():
    assert math.isnan(ratio(3.0, 0.0))
    row = Row("b", "pace", ratio(3.0, 0.0), 0.9)
    assert row.met is False and row.as_dict()["ratio"] is None


def test_the_json_line_is_keyed_by_letter_with_ratio_target_met_detail():
    rows = [Row("a", "speed-up", 12.0, 10.0, detail="x"), Row("h", "overhead", 0.4, 0.25, at_most=True)]
    parsed = json.loads(as_json(rows))
    assert list(parsed) == ["a", "h"]
    assert parsed["a"] == {"ratio": 12.0, "target": 10.0, "met": True, "detail": "x"}
    assert parsed["h"]["met"] is False
    lines = table(rows).splitlines()
    assert len(lines) == 2 + len(rows) and "| h |" in lines[-1] and "<= 0.25" in lines[-1]


def test_feature_cache_row_needs_the_same_accuracy_as_well_as_the_speed_up():
    result = {"model": "resnet18", "image_size": 64, "images": 300, "epochs": 25, "uncached_s": 20.0,
              "cached_cold_s": 1.0, "speedup_warm": 40.0, "test_acc_cached": 0.5, "test_acc_uncached": 0.5,
              "test_acc_diff": 0.0}
    assert row_a_from(result).ratio == 20.0 and row_a_from(result).met
    worse = {**result, "test_acc_cached": 0.3, "test_acc_diff": 0.2}
    assert row_a_from(worse).ratio == 20.0 and not row_a_from(worse).met


def test_pace_rows_leave_the_first_epoch_out_and_divide_tune_by_bare():
    row = loop.row_b_from(bare=[[10.0, 100.0, 100.0]], tuned=[[1.0, 80.0, 80.0]], what="m")
    assert row.ratio == pytest.approx(0.8) and not row.met
    # epochs 2+ together: one at 60 img/s and one at 120 take as long as two at 80
    row = loop.row_b_from(bare=[[10.0, 100.0, 100.0]], tuned=[[1.0, 60.0, 120.0]], what="m")
    assert row.ratio == pytest.approx(0.8)
    # each side runs twice and its faster run counts: Tune 95 (not 70), bare 100 (not 90)
    row = loop.row_b_from(bare=[[10.0, 90.0], [20.0, 100.0]], tuned=[[1.0, 70.0], [1.0, 95.0]], what="m",
                          inside=[[1.0, 96.0], [1.0, 99.0]])
    assert row.ratio == pytest.approx(0.95) and row.met
    assert "95 vs 100 img/s" in row.detail and "99 img/s inside" in row.detail
    row = loop.row_d_from(cache_s=[2.0, 2.2], memory_s=[1.9, 2.5], images=100, what="m")
    assert row.ratio == pytest.approx(1.9 / 2.0) and row.met


def test_overhead_counts_the_trials_work_against_wall_times_slots(tmp_path):
    trials = [[{"epoch": 1, "epoch_time_s": 30.0}, {"epoch": 2, "epoch_time_s": 30.0},
               {"test_acc": 0.5, "features_time_s": 0.0, "test_time_s": 2.0}],
              [{"epoch": 1, "epoch_time_s": 60.0}, {"test_acc": 0.4, "epoch_time_s": 99.0, "features_time_s": 8.0,
                                                    "test_time_s": None}]]
    # work: epochs 120 + features 8 + test 2; the final line's epoch_time_s is not an epoch
    row = experiment.row_h_from(trials, wall_s=100.0, slots=2)
    assert row.ratio == pytest.approx(1 - 130.0 / 200.0) and not row.met
    assert "epochs 120 + feature extraction 8 + test 2" in row.detail
    # one trial runs in one slot, however many the machine has
    assert experiment.row_h_from(trials[:1], wall_s=70.0, slots=8).ratio == pytest.approx(1 - 62.0 / 70.0)
    assert experiment.row_h_from(trials, wall_s=80.0, slots=2).met
    # an epoch replayed after a restart from an earlier checkpoint counts once: its last report
    replayed = [trials[0][:2] + [{"epoch": 2, "epoch_time_s": 40.0}] + trials[0][2:], trials[1]]
    assert experiment.row_h_from(replayed, wall_s=100.0, slots=2).ratio == pytest.approx(1 - 140.0 / 200.0)


def test_metadata_memory_is_projected_on_the_line_through_the_two_largest_counts():
    points = [{"records": 1000, "anon_before_mb": 100.0, "anon_peak_mb": 110.0},
              {"records": 10_000, "anon_before_mb": 100.0, "anon_peak_mb": 150.0},
              {"records": 100_000, "anon_before_mb": 100.0, "anon_peak_mb": 400.0}]
    slope = 250.0 / 90_000
    assert memory.metadata_projection(points) == pytest.approx(300.0 + slope * (112_039 - 100_000))
    small = {"images": 100, "anon_peak_mb": 500.0, "rss_peak_mb": 900.0}
    large = {"images": 400, "anon_peak_mb": 505.0, "rss_peak_mb": 990.0}
    row = memory.row_f_from(small, large, size=224, metadata=points)
    assert row.ratio == pytest.approx(5.0 / (300 * 224 * 224 * 3 / 2**20)) and row.met
    copied = {**large, "anon_peak_mb": 500.0 + 300 * 224 * 224 * 3 / 2**20}  # every added image copied to RAM
    assert memory.row_f_from(small, copied, size=224, metadata=points).ratio == pytest.approx(1.0)
    heavy = [{**p, "anon_peak_mb": p["anon_peak_mb"] * 3} for p in points]  # metadata over the limit
    assert not memory.row_f_from(small, large, size=224, metadata=heavy).met


def test_label_pruning_passes_are_counted_from_the_store_once_per_image(demo_root, tmp_path):
    """Every rung of a ladder on one backbone: the store computes each image once, not once per trial."""
    base = {"collection": "demo", "data_root": str(demo_root), "task": "artist", "model": "tiny_cnn",
            "mode": "off_the_shelf", "weights": "none", "image_size": 32, "max_epochs": 1, "patience": 1}
    configs = [{**base, "top_k": k} for k in (2, 9, 5)]  # the smallest rung first: later ones add the rest
    counted = passes.count_passes(configs, tmp_path / "cache")
    assert counted["backbones"] == ["tiny_cnn"] and counted["trials"] == 3
    assert counted["passes"] == counted["images"] > 0
    assert counted["naive_passes"] > counted["passes"]
    row = passes.row_e_from(counted)
    assert row.ratio == 1.0 and row.met
    # the same trials again on a fresh store with the cache off compute nothing: no store rows at all
    off = passes.count_passes([{**c, "feature_cache": False} for c in configs], tmp_path / "cache-off")
    assert off["passes"] == 0


def test_one_model_with_two_weight_sets_is_two_backbones(demo_root, tmp_path):
    """tiny_cnn from two seeds of random init has two sets of features: each image passes through each once."""
    base = {"collection": "demo", "data_root": str(demo_root), "task": "artist", "model": "tiny_cnn",
            "mode": "off_the_shelf", "weights": "none", "image_size": 32, "max_epochs": 1, "patience": 1}
    configs = [{**base, "seed": seed, "top_k": k} for seed in (0, 1) for k in (2, 9)]
    counted = passes.count_passes(configs, tmp_path / "cache")
    assert counted["backbones"] == ["tiny_cnn x2"] and counted["n_backbones"] == 2
    row = passes.row_e_from(counted)
    assert row.ratio == 1.0 and row.met and "2 backbone(s) (tiny_cnn x2)" in row.detail


def test_label_pruning_is_planned_as_the_runner_plans_it(demo_root):
    configs = passes.planned_configs(demo_root, ("alexnet",))
    assert {c["mode"] for c in configs} == {"off_the_shelf"} and {c["model"] for c in configs} == {"alexnet"}
    ladder = sorted({c["top_k"] for c in configs}, reverse=True)
    assert len(ladder) == len(configs) >= 2 and ladder[-1] == 2


def test_an_experiment_folder_is_sized_and_its_off_the_shelf_model_reloads(real_experiment):
    sizes = experiment.folder_bytes(real_experiment)
    models = experiment.off_the_shelf_models(real_experiment)
    assert models and sizes["model.pt"] > 0 and sizes["report"] > 0
    row = experiment.row_g_from(sizes, models)
    assert row.condition, row.detail
    assert row.ratio == pytest.approx(sum(sizes.values()) / 2**20)
    trials = experiment.trial_rows(real_experiment)
    assert len(trials) == 2 and all(any("test_acc" in r for r in rows) for rows in trials)


def test_only_takes_row_letters(capsys):
    with pytest.raises(SystemExit):
        main(["--only", "az"])
    assert "--only takes letters of abcdefghi, not z" in capsys.readouterr().err
    assert LETTERS == "abcdefghi"


def test_fine_tune_row_divides_each_sides_faster_run_and_prints_gflops():
    from study.bench.finetune import row_i_from

    # epochs 2+ of each side: tune 40 and 30 img/s, bare 50 and 45: 40 / 50
    row = row_i_from(bare=[[5.0, 50.0, 50.0], [5.0, 45.0, 45.0]], tuned=[[2.0, 30.0, 30.0], [2.0, 40.0, 40.0]],
                     flops=2.5e9, what="m")
    assert row.letter == "i" and row.ratio == pytest.approx(0.8) and not row.met
    # 2.5 GFLOP per image x 40 img/s = 100 GFLOP/s; x 50 = 125
    assert "2.50 GFLOP per image" in row.detail and "100.0 vs 125.0 GFLOP/s" in row.detail
    assert row_i_from(bare=[[1.0, 100.0]], tuned=[[1.0, 95.0]], flops=1e9, what="m").met


def test_abba_runs_bare_tune_tune_bare():
    calls = []
    bare, tuned = loop.abba(lambda: calls.append("bare") or [float(len(calls))],
                            lambda: calls.append("tune") or len(calls))
    assert calls == ["bare", "tune", "tune", "bare"]
    assert bare == [[1.0], [4.0]] and tuned == [2, 3]


def test_flops_per_image_counts_forward_and_weight_gradient_of_a_convolution():
    import torch

    from study.bench.finetune import flops_per_image

    class Tiny(torch.nn.Module):  # 3 -> 4 channels, 3x3, no padding: an 8x8 image gives 6x6 outputs
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, bias=False)

        def forward(self, x):
            return self.conv(x).mean((2, 3))

    # by hand: forward 2 x (3*3*3) x 4 x 36 = 7,776 per image; backward only the weight's gradient
    # (the input needs none), the same count again: 15,552
    assert flops_per_image(Tiny(), size=8, batch=3) == 15_552


def test_flops_per_image_counts_a_depthwise_convolution_by_its_groups():
    import torch

    from study.bench.finetune import flops_per_image

    class Tiny(torch.nn.Module):  # 1x1 3 -> 4, then a depthwise 3x3 (4 groups) on 8x8: 6x6 outputs
        def __init__(self):
            super().__init__()
            self.point = torch.nn.Conv2d(3, 4, 1, bias=False)
            self.depth = torch.nn.Conv2d(4, 4, 3, groups=4, bias=False)

        def forward(self, x):
            return self.depth(self.point(x)).mean((2, 3))

    # by hand, per image: 1x1 forward 2 x 12 x 64 = 1,536, depthwise forward 2 x 36 x 36 = 2,592;
    # backward: depthwise input and weight gradients 2 x 2,592, the 1x1's weight gradient 1,536
    assert flops_per_image(Tiny(), size=8, batch=2) == 1_536 + 2_592 + 2 * 2_592 + 1_536
