"""The runner's searcher and scheduler inside a real Ray Tune Tuner, and through a restore (`--resume`).

The trainable here is a few lines reporting chosen numbers, so each test takes seconds: what is under
test is the Ray side (study/run/tuner.py search_setup, study/run/percell.py), which a real trial would
only make slower. The real trainable runs through Ray in tests/test_run.py and tests/test_resume.py.
"""

from pathlib import Path

import pytest

import ray
from ray import tune

from search_spaces.registry import LogUniform, Stage
from study.run.tuner import longest_first, scheduler_callbacks, search_setup

MODES = ["off_the_shelf", "fine_tune"]


@pytest.fixture(scope="module")
def local_ray(local_ray):  # the session's one Ray (tests/conftest.py), with this module's trainables sent whole
    import sys

    import ray.cloudpickle

    # Ray's workers cannot import this test module (tests/ is not on their path): send its trainables whole.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield local_ray


def good_then_crash_then_poor(config):
    """Per cell (mode): the first trial scores 0.9 at each of 3 reports; the second crashes once before
    reporting anything, and scores 0.1 when it runs again (a resumed experiment)."""
    marks, cell = Path(config["marks"]), config["mode"]
    if not (marks / f"seen-{cell}").exists():
        (marks / f"seen-{cell}").touch()
        value = 0.9
    elif not (marks / f"crashed-{cell}").exists():
        (marks / f"crashed-{cell}").touch()
        raise RuntimeError("simulated crash")
    else:
        value = 0.1
    for _ in range(3):
        tune.report({"val_acc": value})


def test_per_cell_search_and_asha_in_a_tuner_and_through_a_restore(local_ray, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    stage = Stage("", {"marks": str(marks)}, {"mode": MODES}, search={"lr": LogUniform(1e-4, 1e-1)},
                  samples_per_cell=2, scheduler="asha", max_t=3)
    param_space, search, scheduler, num_samples = search_setup(None, stage, "qmc")
    tuner = tune.Tuner(
        good_then_crash_then_poor, param_space=param_space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", search_alg=search, scheduler=scheduler,
                                    num_samples=num_samples, max_concurrent_trials=1),
        run_config=tune.RunConfig(name="sweep", storage_path=str(tmp_path / "results"), verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=0),
                                  callbacks=scheduler_callbacks(scheduler)),
    )
    first = tuner.fit()
    assert len(first) == 4 and sum(r.error is not None for r in first) == 2  # one crash per cell
    assert sorted(r.config["mode"] for r in first) == sorted(MODES * 2)  # two trials a cell, round robin
    assert all(1e-4 <= r.config["lr"] <= 1e-1 for r in first)

    restored = tune.Tuner.restore(str(tmp_path / "results" / "sweep"), trainable=good_then_crash_then_poor,
                                  resume_errored=True).fit()
    # The searcher's state came back: it handed out no new trials (a fresh one would start 4 more).
    assert len(restored) == 4 and not any(r.error for r in restored)
    reran = [r for r in restored if r.metrics["val_acc"] == 0.1]
    assert sorted(r.config["mode"] for r in reran) == sorted(MODES)
    # The scheduler's state came back too: each rerun trial was judged against its cell's first trial
    # (0.9 at the first rung) and stopped there; an ASHA restored empty would have let it run 3 reports.
    assert [r.metrics["training_iteration"] for r in reran] == [1, 1]
    kept = [r for r in restored if r.metrics["val_acc"] == 0.9]
    assert [r.metrics["training_iteration"] for r in kept] == [3, 3]


def record_config(config):
    tune.report({"val_acc": 0.5, "cell": f"{config['model']}|{config['image_size']}"})


def test_explicit_cells_run_exactly_as_listed(local_ray, tmp_path):
    """The explicit-cells grid (BasicVariantGenerator points, e.g. each backbone's own minimum image size):
    one trial per listed cell, each with exactly its values, and no random extra sample."""
    cells = [{"model": "alexnet", "image_size": 63}, {"model": "xception", "image_size": 71},
             {"model": "resnet50", "image_size": 32}]
    stage = Stage("", {"task": "material"}, {}, cells=cells)
    param_space, search, scheduler, num_samples = search_setup(None, stage)
    results = tune.Tuner(
        record_config, param_space=param_space,
        tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, num_samples=num_samples),
        run_config=tune.RunConfig(name="cells", storage_path=str(tmp_path), verbose=0),
    ).fit()
    assert sorted(r.metrics["cell"] for r in results) == ["alexnet|63", "resnet50|32", "xception|71"]
    assert all(r.config["task"] == "material" for r in results)


def record_mode(config):
    tune.report({"val_acc": 0.5, "cell": f"{config['mode']}|{config['task']}"})


def test_explicit_cells_start_fine_tuned_trials_first(local_ray, tmp_path):
    """Longest first: the fine-tuned cells' trials are created (and started) before the off-the-shelf ones,
    each group in its planned order, so short trials fill the slots that free up at the end."""
    cells = [{"mode": "off_the_shelf", "task": "a"}, {"mode": "fine_tune", "task": "b"},
             {"mode": "off_the_shelf", "task": "c"}, {"mode": "fine_tune", "task": "d"}]
    stage = Stage("", {}, {}, cells=cells)
    param_space, search, scheduler, num_samples = search_setup(None, stage)
    results = tune.Tuner(
        record_mode, param_space=param_space,
        tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, num_samples=num_samples,
                                    max_concurrent_trials=1),
        run_config=tune.RunConfig(name="order", storage_path=str(tmp_path), verbose=0),
    ).fit()
    started = [r.metrics["cell"] for r in sorted(results, key=lambda r: r.metrics["trial_id"])]
    assert started == ["fine_tune|b", "fine_tune|d", "off_the_shelf|a", "off_the_shelf|c"]


def test_a_cell_without_a_mode_has_the_stages():
    cells = [{"task": "a"}, {"task": "b", "mode": "fine_tune"}]
    assert longest_first(cells, {"mode": "off_the_shelf"}) == [cells[1], cells[0]]
    assert longest_first(cells, {"mode": "fine_tune"}) == cells
