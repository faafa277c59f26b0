"""The search-space registry: every space resolves, declares disjoint roles over known config keys,
and plans exactly the trials `--dry-run` lists (parametrised over the registry, like timm's model tests)."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from search_spaces import Context, get_space, list_spaces
from search_spaces.registry import Space, UnknownSpaceError, geometric_ladder, register_space
from study.config import CONFIG_KEYS, resolve_config
from study.errors import StudyError

SPACES = list_spaces()
SOURCE = {"collection": "demo", "data_root": "", "task": ""}


def fake_context(**kw) -> Context:
    # 12 classes whatever the task: label_pruning's ladder is 12 6 3 2
    return Context(count_classes=lambda collection, root, task, m, split: 12, source=dict(SOURCE), **kw)


def test_the_registry_lists_the_five_studies():
    assert {"grid_paper", "label_pruning", "lr_sweep", "cross_collection", "smoke"} <= set(SPACES)
    assert SPACES == sorted(SPACES)


def test_unknown_space_names_the_known_ones():
    with pytest.raises(UnknownSpaceError, match="known spaces: cross_collection, grid_paper"):
        get_space("grid_papers")


def test_a_duplicate_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_space(Space(name="smoke", question="?", scientific={"mode": ("fine_tune",)}))


def test_an_unknown_key_is_refused_at_registration():
    with pytest.raises(ValueError, match="unknown config keys"):
        register_space(Space(name="bad_space", question="?", scientific={"learning_rate": (1e-3,)}))


@pytest.mark.parametrize("name", SPACES)
def test_space_declares_disjoint_roles_over_known_keys(name):
    space = get_space(name)
    roles = space.roles
    assert space.question.endswith("?")
    assert roles["scientific"], "a study measures something"
    sets = [set(roles[r]) for r in ("scientific", "nuisance", "fixed")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]), roles
    for keys in sets:
        assert keys <= set(CONFIG_KEYS), keys - set(CONFIG_KEYS)
    assert space.metric in ("val_acc", "val_loss") and space.mode in ("max", "min")
    assert space.budget and set(space.why) <= set(CONFIG_KEYS)


@pytest.mark.parametrize("name", SPACES)
def test_space_plans_trials_that_resolve(name):
    space = get_space(name)
    stages = space.stages(fake_context())
    assert stages and all(stage.num_trials >= 1 for stage in stages)
    for stage in stages:
        for config in stage.trial_configs():
            assert set(config) <= set(CONFIG_KEYS)
            probe = {k: v for k, v in config.items() if k not in stage.search}
            probe["weights"] = "none" if probe.get("weights") == "source" else probe.get("weights", "none")
            resolve_config(probe)


@pytest.mark.parametrize("name", SPACES)
def test_seeds_and_set_reshape_the_grid(name):
    space = get_space(name)
    one = sum(s.num_trials for s in space.stages(fake_context()))
    if space.search == "grid":
        three = sum(s.num_trials for s in space.stages(fake_context(seeds=3)))
        # stage 1 is not repeated over seeds (cross_collection's demo: the 5 paper backbones and efficientnet_lite0)
        source = 6 if name == "cross_collection" else 0
        assert three - source == 3 * (one - source)
    pinned = space.stages(fake_context(overrides={"mode": "fine_tune"}))
    for stage in pinned:
        assert all(c["mode"] == "fine_tune" for c in stage.trial_configs())


def test_grid_paper_is_the_papers_table():
    (stage,) = get_space("grid_paper").stages(fake_context(demo=False))
    assert stage.num_trials == 5 * 2 * 3
    assert stage.base["lr"] == 1e-3 and stage.base["patience"] == 7 and stage.base["image_size"] == 0
    assert stage.base["optimizer"] is None  # the paper's per mode, resolved by resolve_config


def test_the_demo_budget_is_smaller():
    (stage,) = get_space("grid_paper").stages(fake_context(demo=True))
    full = get_space("grid_paper").stages(fake_context(demo=False))[0].base
    assert stage.base["max_epochs"] < full["max_epochs"] and stage.base["patience"] < full["patience"]
    assert 0 < stage.base["image_size"] <= 80  # raised per backbone to its minimum by the runner


def test_label_ladder_is_geometric_from_the_full_count_to_two():
    assert geometric_ladder(374) == [374, 187, 94, 47, 23, 12, 6, 3, 2]
    assert geometric_ladder(3) == [3, 2] and geometric_ladder(2) == [2]
    for full in range(2, 400):
        ladder = geometric_ladder(full)
        assert ladder[0] == full and ladder[-1] == 2 and ladder == sorted(set(ladder), reverse=True)
    (stage,) = get_space("label_pruning").stages(fake_context())
    assert sorted({c["top_k"] for c in stage.trial_configs()}, reverse=True) == [12, 6, 3, 2]


def test_lr_sweep_searches_nuisance_within_each_cell():
    space = get_space("lr_sweep")
    (stage,) = space.stages(fake_context(demo=False))
    assert set(stage.search) == set(space.roles["nuisance"]) == {"lr", "weight_decay", "batch_size"}
    assert len(stage.cell_list()) == 10 and stage.num_trials == 10 * space.samples_per_cell
    (pinned,) = space.stages(fake_context(overrides={"lr": 0.01}))
    assert "lr" not in pinned.search and pinned.base["lr"] == 0.01


def test_per_cell_search_hands_out_every_cell_equally():
    from study.run.percell import PerCellSearch
    from search_spaces.registry import Categorical, LogUniform

    cells = [{"model": m, "mode": "fine_tune"} for m in ("a", "b", "c")]
    search = PerCellSearch(cells, {"lr": LogUniform(1e-4, 1e-1), "batch_size": Categorical((16, 32))}, 2,
                           metric="val_acc", mode="max")
    configs = [search.suggest(f"t{i}") for i in range(6)]
    assert search.suggest("t6") == search.FINISHED
    assert sorted(c["model"] for c in configs) == ["a", "a", "b", "b", "c", "c"]
    assert all(1e-4 <= c["lr"] <= 1e-1 and c["batch_size"] in (16, 32) for c in configs)
    search.on_trial_complete("t0", {"val_acc": 0.5, "training_iteration": 1})
    # the result reached the Optuna study of t0's cell, and only that one (OptunaSearch keeps its study
    # in `_ot_study`, Ray's private name: this fails if that changes)
    import optuna

    def finished(i):
        return [(t.state, t.value) for t in search._searcher(i)._ot_study.trials if t.state.is_finished()]

    cell = search._cell_of["t0"]
    assert finished(cell) == [(optuna.trial.TrialState.COMPLETE, 0.5)]
    assert all(finished(i) == [] for i in range(3) if i != cell)


def test_cross_collection_is_two_stages():
    stages = get_space("cross_collection").stages(fake_context(demo=False))
    assert [s.name for s in stages] == ["source", ""]
    source, target = stages
    assert source.base["mode"] == "fine_tune" and source.num_trials == 5
    assert target.depends_on == "source" and target.num_trials == 5 * 2 * 2
    assert {c["weights"] for c in target.cell_list()} == {"imagenet", "source"}
    assert source.roles["scientific"] == ["model"] and "mode" in source.roles["fixed"]


def test_cross_collection_hands_stage_two_the_best_source_model_of_each_backbone(tmp_path):
    space = get_space("cross_collection")
    _, target = space.stages(fake_context(overrides={"model": "vgg19"}))
    assert ("weights", "source") in target.placeholders
    rows = [{"model": "vgg19", "val_acc": acc, "test_acc": 0.5, "checkpoint": str(tmp_path / name)}
            for acc, name in ((0.4, "worse"), (0.7, "best"), (0.9, "unfinished"))]
    del rows[2]["test_acc"]  # a trial without test metrics never started stage 2
    target.prepare(target, rows)
    weights = {c["weights"] for c in target.cell_list()}
    assert weights == {"imagenet", str(tmp_path / "best" / "model.pt")}
    _, again = space.stages(fake_context(overrides={"model": "alexnet"}))
    with pytest.raises(StudyError, match="no finished alexnet trial; add --resume"):
        again.prepare(again, rows)


def test_only_a_space_that_takes_a_source_is_planned_with_the_demo_source():
    written = []
    ctx = fake_context(demo_root=lambda seed: written.append(seed) or f"/demo{seed}")
    source, _ = get_space("cross_collection").stages(ctx)
    assert written == [1] and source.base["data_root"] == "/demo1"
    assert [name for name in SPACES if get_space(name).takes_source] == ["cross_collection"]
    assert get_space("cross_collection").stage_names == ["", "source"]


# ---------------------------------------------------------------- --dry-run
def dry_run_argv(name, demo_root, *extra):
    argv = ["--space", name, "--data", str(demo_root), "--collection", "demo", *extra, "--dry-run"]
    if name == "cross_collection":
        argv += ["--source-data", str(demo_root), "--source-collection", "demo"]
    return argv


def dry_run(name, demo_root, capsys, *extra):
    """`main()` in this process (torch's import, ~5 s, is paid once for every space)."""
    from study.run.cli import main

    assert main(dry_run_argv(name, demo_root, *extra)) == 0
    return capsys.readouterr().out


def expected_trials(name, demo_root, seeds=1):
    """The grid's size from the declaration and the collection, independently of the planner."""
    from study.data import read_collection, summarize

    space = get_space(name)
    if name == "cross_collection":  # no paper weights here: efficientnet_lite0 alone, 1 source trial + 2 x 2
        return 1 + 1 * 2 * 2 * seeds
    sizes = []
    for key, values in space.scientific.items():
        if callable(values):
            if key == "task":
                values = [t for t in ("material", "type", "artist")]
            else:  # top_k: the ladder from the task's full class count
                summary = summarize(read_collection("demo", demo_root), space.fixed["task"])
                values = geometric_ladder(summary["tasks"][space.fixed["task"]]["classes"])
        sizes.append(len(values))
    samples = space.demo_samples_per_cell if space.search == "optuna" else seeds
    if space.demo_baseline:  # no paper weights here (no_paper_weights): efficientnet_lite0, ImageNet (and random init)
        rests = math.prod(sizes) // len(space.scientific["model"])
        off_the_shelf = rests // 2  # the cells with mode=off_the_shelf
        twins = {mode: 2 if mode in space.demo_twin else 1 for mode in ("off_the_shelf", "fine_tune")}
        per_off_the_shelf_cell = twins["off_the_shelf"] + (2 if space.demo_ladder else 0)  # + lite1, lite2
        trials = (twins["off_the_shelf"] + twins["fine_tune"]) * (rests // 2) + (
            2 * off_the_shelf if space.demo_ladder else 0)
        if space.demo_head_fit:  # + a logistic head on each off-the-shelf trial
            trials += per_off_the_shelf_cell * off_the_shelf
        return trials * samples
    return math.prod(sizes) * samples


@pytest.fixture
def no_paper_weights(tmp_path, monkeypatch):
    """This machine's caches hold no ImageNet file: only efficientnet_lite0's, which ships with a package."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ARTSTUDY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


@pytest.mark.parametrize("name", SPACES)
def test_dry_run_count_is_the_grid_size(name, demo_root, capsys, no_paper_weights):
    out = dry_run(name, demo_root, capsys)
    total = int(re.search(r"^(\d+) trials$", out, re.M).group(1))
    assert total == expected_trials(name, demo_root)
    listed = len(re.findall(r"^ +\d+  \S+=", out, re.M))
    if get_space(name).search == "grid":
        assert listed == total  # one line per trial
    else:
        assert re.search(r"Optuna \(QMC\) per cell, \d+ samples each: lr ~ log-uniform", out)
    assert "budget: demo" in out or name == "smoke"


def test_dry_run_through_the_command_line(demo_root):
    argv = dry_run_argv("grid_paper", demo_root, "--seeds", "2", "--set", "model=resnet50", "weights=none")
    out = subprocess.run([sys.executable, "-m", "study.run", *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^12 trials$", out.stdout, re.M) and "seed=1" in out.stdout and "vgg19" not in out.stdout
    assert re.search(r"^  shared: .*model=resnet50", out.stdout, re.M)  # pinned: printed once
    assert re.search(r"^  shared: .*weights=none", out.stdout, re.M)  # the README's random-init switch
    assert len(re.findall(r"^ +\d+  mode=", out.stdout, re.M)) == 12


DRIVER_WITHOUT_TORCH = """
import sys
from study.run.cli import main
from study.run.trainable import train  # what the driver hands to Tune; the trial imports torch in its worker
from study.run.planning import imagenet_present
rc = main(sys.argv[1:])
print('imagenet:', imagenet_present('efficientnet_lite0'), imagenet_present('resnet50'))
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', 'timm'})
print('heavy:', heavy)
sys.exit(rc)
"""


def test_the_driver_plans_every_backbone_without_importing_torch(demo_root, no_paper_weights):
    # grid_paper's demo budget: five backbones, inception_v3's size raised to 75 px; then the ImageNet
    # files looked up (efficientnet_lite0's in its package; resnet50's in no cache here).
    argv = dry_run_argv("grid_paper", demo_root, "--set", "weights=imagenet")
    done = subprocess.run([sys.executable, "-c", DRIVER_WITHOUT_TORCH, *argv], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stdout
    assert re.search(r"^30 trials$", done.stdout, re.M)
    assert re.search(r"^ +\d+  model=inception_v3 mode=fine_tune task=artist image_size=75$", done.stdout, re.M)
    assert "imagenet: True False" in done.stdout


# ---------------------------------------------------------------- README: one recipe per space
def test_readme_has_every_spaces_recipe_commands():
    """The recipes are generated from the declarations (python -m study.run.recipes); the README
    must carry each one's exact command lines, so a renamed option or space cannot go stale there."""
    from study.run.recipes import commands

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [c for name in SPACES for c in commands(get_space(name)) if c not in readme]
    assert not missing, "README.md lacks (regenerate with python -m study.run.recipes):\n" + "\n".join(missing)
    assert "From one machine to a Ray cluster" in readme


# ---------------------------------------------------------------- --set split reaches the ladder and study.json
SKEWED = "0.1,0.45,0.45"  # a training tenth: classes below ~20 images get no training image and are dropped


def _planned(name, demo_root, *extra):
    from study.run.cli import build_parser, experiment_options
    from study.run.planning import Collections, make_context, plan

    options = experiment_options(build_parser().parse_args(
        ["--space", name, "--data", str(demo_root), "--collection", "demo", *extra]))
    collections = Collections()
    ctx = make_context(options, collections)
    return options, ctx, plan(get_space(name), ctx, collections), collections


def test_the_label_ladder_and_study_json_use_the_runs_split(demo_root):
    from study.data import read_collection, summarize
    from study.run.experiment import study_record

    demo = read_collection("demo", demo_root)
    default = summarize(demo, "artist")["tasks"]["artist"]
    skewed = summarize(demo, "artist", split=(0.1, 0.45, 0.45))["tasks"]["artist"]
    assert skewed["classes"] < default["classes"]  # the split changes what the rare-class rule drops
    _, _, (stage,), _ = _planned("label_pruning", demo_root, "--set", f"split={SKEWED}")
    assert max(c["top_k"] for c in stage.trial_configs()) == skewed["classes"]  # the ladder's top rung

    argv = ["--space", "grid_paper", "--set", f"split={SKEWED}", "split_seed=3"]
    options, ctx, (stage,), collections = _planned("grid_paper", demo_root, *argv[2:])
    study = study_record(get_space("grid_paper"), stage, ctx, options, argv, collections.get("demo", str(demo_root)),
                         "/tmp/unused", "x")
    recorded = study.collection["tasks"]["artist"]
    expected = summarize(demo, "artist", split=(0.1, 0.45, 0.45), split_seed=3)["tasks"]["artist"]
    assert {k: recorded[k] for k in ("classes", "train", "val", "test")} == \
        {k: expected[k] for k in ("classes", "train", "val", "test")}
    assert recorded["train"] != default["train"]


def test_sampler_and_source_task_options_reach_the_plan(demo_root, capsys):
    assert "Optuna (QMC) per cell" in dry_run("lr_sweep", demo_root, capsys)  # the default sampler
    assert "Optuna (TPE) per cell" in dry_run("lr_sweep", demo_root, capsys, "--sampler", "tpe")
    assert "stage source: fine-tune on demo/material" in dry_run("cross_collection", demo_root, capsys)
    assert "stage source: fine-tune on demo/type" in dry_run("cross_collection", demo_root, capsys,
                                                             "--source-task", "type")


@pytest.mark.parametrize("cpus", ["0", "-1"])
def test_cpus_per_trial_must_be_positive(demo_root, capsys, cpus):
    from study.run.cli import main

    assert main(dry_run_argv("smoke", demo_root, "--cpus-per-trial", cpus)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --cpus-per-trial must be positive and --gpus-per-trial at least 0"]


def test_cpus_per_trial_is_what_each_trial_asks_ray_for(demo_root):
    from search_spaces import get_space
    from study.run.cli import build_parser, make_launch

    argv = dry_run_argv("smoke", demo_root, "--cpus-per-trial", "0.5")
    assert make_launch(build_parser().parse_args(argv), argv, get_space("smoke")).cpus == 0.5
