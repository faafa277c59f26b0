"""Study files and --grid/--tune (search_spaces/study_file.py): a file or a command line becomes the same
`Space` a registered one is, or is refused in one StudyError line naming the file, the key and what is valid."""

import re
import string
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search_spaces import get_space, list_spaces
from search_spaces.registry import Categorical, Context, IntUniform, LogUniform, Uniform, to_optuna
from search_spaces.study_file import load_study, study_to_dict, with_axes
from study.errors import StudyError
from study.run.planning import check_stage, raise_image_size

SMALL = {  # two scientific values x one tuned nuisance x 2 samples, on the tiny backbone
    "name": "tiny_lr", "question": "Does fine-tuning beat a head on frozen features once lr is tuned?",
    "scientific": {"mode": ["off_the_shelf", "fine_tune"]},
    "nuisance": {"lr": "loguniform:1e-3:1e-1"},
    "samples_per_cell": 2,
    "fixed": {"model": "tiny_cnn", "weights": "none", "task": "material", "image_size": 32, "batch_size": 16,
              "max_epochs": 2, "patience": 2},
    "why": {"lr": "tuned per cell"},
}


def write(tmp_path, data, name="study.toml"):
    path = tmp_path / name
    path.write_text(tomli_w.dumps(data))
    return path


def plan_for_display(space):
    """What --dry-run checks (study.run.planning.plan), without a collection: the demo budget's image size raised
    to each backbone's minimum, then every trial config resolves (the full budget; the ladder of a 10-class task)."""
    ctx = Context(demo=False, count_classes=lambda *args: 10, source={"collection": "demo", "data_root": "", "task": ""})
    stages = space.stages(ctx)
    for stage in stages:
        raise_image_size(stage)
        check_stage(stage)
    return stages


@pytest.fixture
def no_paper_weights(tmp_path, monkeypatch):
    """This machine's caches hold no ImageNet file: only efficientnet_lite0's, which ships with a package."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ARTSTUDY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


# ---------------------------------------------------------------- a file -> a Space
def test_a_study_file_becomes_a_space_with_its_roles_and_distributions(tmp_path):
    space = load_study(write(tmp_path, SMALL))
    assert space.name == "tiny_lr" and space.search == "optuna" and space.samples_per_cell == 2
    assert space.roles == {"scientific": ["mode"], "nuisance": ["lr"],
                           "fixed": ["collection", "model", "weights", "task", "image_size", "batch_size",
                                     "max_epochs", "patience"]}
    assert space.nuisance["lr"] == LogUniform(1e-3, 1e-1)
    [stage] = plan_for_display(space)
    assert stage.num_trials == 2 * 2 and stage.search == {"lr": LogUniform(1e-3, 1e-1)}
    assert "lr" not in stage.base


def test_each_distribution_and_its_optuna_form():
    space = with_axes(get_space("smoke"), tune=["lr=uniform:0.001:0.01", "batch_size=int:8:32",
                                                "augment=choice:false,true", "weight_decay=loguniform:1e-6:1e-2"])
    assert space.nuisance == {"lr": Uniform(0.001, 0.01), "batch_size": IntUniform(8, 32),
                              "augment": Categorical((False, True)), "weight_decay": LogUniform(1e-6, 1e-2)}
    optuna = {k: to_optuna(d) for k, d in space.nuisance.items()}
    assert (optuna["lr"].low, optuna["lr"].high, optuna["lr"].log) == (0.001, 0.01, False)
    assert (optuna["batch_size"].low, optuna["batch_size"].high, optuna["batch_size"].step) == (8, 32, 1)
    assert optuna["augment"].choices == (False, True) and optuna["weight_decay"].log


# ---------------------------------------------------------------- a Space -> a file -> the same plan
@pytest.mark.parametrize("name", list_spaces())
def test_every_space_written_out_reads_back_the_same(name, tmp_path):
    space = get_space(name)
    again = load_study(write(tmp_path, study_to_dict(space)))
    for field in ("name", "question", "metric", "mode", "search", "samples_per_cell", "demo_samples_per_cell",
                  "scheduler", "demo_baseline", "demo_head_fit", "takes_source", "reports", "plan"):
        assert getattr(again, field) == getattr(space, field), field
    assert again.roles == space.roles
    assert {k: (v if callable(v) else list(v) if isinstance(v, tuple) else v) for k, v in again.scientific.items()} \
        == {k: (v if callable(v) else list(v)) for k, v in space.scientific.items()}
    roles = set(space.scientific) | set(space.nuisance)
    assert again.fixed == {k: v for k, v in space.fixed.items() if k not in roles}  # None written as "none"


def dry_run_output(capsys, *argv):
    from study.run.cli import main

    assert main([*argv, "--dry-run"]) == 0
    return capsys.readouterr().out


def test_grid_paper_from_its_file_plans_exactly_its_trials(demo_root, tmp_path, capsys):
    """The issue's check: --write-study, then --space FILE --dry-run prints what --space grid_paper does."""
    from study.run.cli import main

    path = tmp_path / "grid_paper.toml"
    assert main(["--space", "grid_paper", "--write-study", str(path)]) == 0
    capsys.readouterr()
    data = ["--data", str(demo_root), "--collection", "demo"]
    named = dry_run_output(capsys, "--space", "grid_paper", *data)
    from_file = dry_run_output(capsys, "--space", str(path), *data)
    assert re.search(r"^\d+ trials$", named, re.M)
    assert from_file == named
    assert main(["--space", "grid_paper", "--write-study", str(path)]) == 2  # never over an existing file
    assert "the file exists" in capsys.readouterr().err


# ---------------------------------------------------------------- --grid and --tune
def test_tune_moves_a_key_out_of_fixed_and_searches_it_per_cell():
    space = with_axes(get_space("label_pruning"), tune=["lr=loguniform:1e-4:1e-1"], samples_per_cell=2)
    assert space.search == "optuna" and space.samples_per_cell == space.demo_samples_per_cell == 2
    assert "lr" not in space.fixed and space.roles["nuisance"] == ["lr"] and "lr" not in space.roles["fixed"]
    assert list(space.scientific) == ["top_k", "model", "mode"]
    assert space.name == "label_pruning-tune-lr"
    [stage] = plan_for_display(space)
    # the ladder of a 10-class task (10 5 3 2) x 5 models x 2 modes, each cell searched twice
    assert stage.num_trials == 4 * 5 * 2 * 2 and stage.search == {"lr": LogUniform(1e-4, 1e-1)}


def test_label_pruning_tuned_dry_run_lists_ladder_models_modes_samples(demo_root, capsys, no_paper_weights):
    out = dry_run_output(capsys, "--space", "label_pruning", "--tune", "lr=loguniform:1e-4:1e-1",
                         "--samples-per-cell", "2", "--data", str(demo_root), "--collection", "demo")
    cells = re.findall(r"^ +\d+  top_k=(\d+) mode=(\w+) weights=(\w+)  x2 samples$", out, re.M)
    ladder = sorted({int(c[0]) for c in cells}, reverse=True)
    assert ladder[-1] == 2 and all(a > b for a, b in zip(ladder, ladder[1:]))
    # efficientnet_lite0 from ImageNet in both modes, and its random-init twin off the shelf only (demo_twin)
    assert len(cells) == len(ladder) * 3
    assert re.search(rf"^{len(cells) * 2} trials$", out, re.M)
    assert "lr ~ log-uniform[0.0001, 0.1]" in out


def test_grid_adds_or_replaces_a_scientific_axis():
    space = with_axes(get_space("grid_paper"), grid=["augment=false,true", "model=resnet50"])
    assert space.scientific["augment"] == [False, True] and space.scientific["model"] == ["resnet50"]
    assert "augment" not in space.fixed and space.search == "grid"
    ladder = with_axes(get_space("grid_paper"), grid=["top_k=halving"])
    assert ladder.scientific["top_k"] is get_space("label_pruning").scientific["top_k"]
    assert "top_k" not in ladder.roles["fixed"]


# ---------------------------------------------------------------- bad input: one line, the file, the key
BAD_FILES = {
    "unknown key, nearest suggested": ({"fixed": {"weight_decy": 0.1}}, "weight_decy", "did you mean 'weight_decay'"),
    "wrong type": ({"fixed": {"max_epochs": "lots"}}, "max_epochs", "is not a valid int"),
    "empty axis": ({"scientific": {"mode": []}}, "mode", "non-empty list"),
    "low >= high": ({"nuisance": {"lr": "loguniform:1e-1:1e-4"}}, "lr", "low bound must be below"),
    "log range touching 0": ({"nuisance": {"lr": "loguniform:0:1e-1"}}, "lr", "above 0"),
    "two roles": ({"nuisance": {"mode": "choice:fine_tune"}}, "mode", "a key has one role"),
    "a distribution for a grid": ({"search": "grid", "nuisance": {"lr": "uniform:0.1:0.2"}}, "lr", "search = \"optuna\""),
    "unknown setting": ({"sampeles_per_cell": 3}, "sampeles_per_cell", "did you mean 'samples_per_cell'"),
    "unknown computed values": ({"scientific": {"top_k": "halve"}}, "top_k", "'halving' (for top_k)"),
    "a float range for an int key": ({"nuisance": {"trainable_blocks": "uniform:0:3"}}, "trainable_blocks", "int:A:B"),
    "a value no trial runs": ({"fixed": {"top_k": 1}}, "top_k", "leaves one class"),
    "the collection": ({"fixed": {"collection": "imet"}}, "collection", "--data DIR --collection C"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_study_file_is_one_line_naming_file_and_key(case, tmp_path):
    change, key, expected = BAD_FILES[case]
    data = {**SMALL, **{k: v for k, v in change.items() if k not in ("fixed", "scientific", "nuisance")}}
    for table in ("fixed", "scientific", "nuisance"):
        if table in change:
            data[table] = {**SMALL[table], **change[table]}
    path = write(tmp_path, data)
    with pytest.raises(StudyError) as err:
        load_study(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and expected in message, message
    assert f": {key}: " in message


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nquestion = = "q"\n')
    with pytest.raises(StudyError, match=rf"^{re.escape(str(path))}: not valid TOML: .*line"):
        load_study(path)


BAD_OPTIONS = {
    "unknown key": (["--tune", "lrr=loguniform:1e-4:1e-1"], "--tune: lrr: no trial understands this key; did you mean 'lr'"),
    "empty axis": (["--grid", "augment="], "--grid takes KEY=V1,V2,..."),
    "two roles": (["--grid", "lr=0.1,0.01", "--tune", "lr=loguniform:1e-4:1e-1"], "already given by --grid"),
    "bad distribution": (["--tune", "lr=normal:0:1"], "unknown distribution 'normal'"),
    "samples without tune": (["--samples-per-cell", "2"], "go with --tune"),
    "wrong value": (["--grid", "mode=frozen,fine_tune"], "choose one of off_the_shelf, fine_tune"),
    "not a toml file": (["--write-study", "x.yaml"], "ends in .toml"),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_bad_grid_and_tune_options_are_one_error_line(case, capsys, tmp_path, monkeypatch):
    from study.run.cli import main

    monkeypatch.chdir(tmp_path)
    args, expected = BAD_OPTIONS[case]
    assert main(["--space", "smoke", *args, "--storage", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected in err, err
    assert not (tmp_path / "r").exists()


def test_a_missing_study_file_is_one_line(capsys, tmp_path):
    from study.run.cli import main

    assert main(["--space", str(tmp_path / "nope.toml")]) == 2
    assert re.fullmatch(r"error: .*nope\.toml: cannot read the study file: No such file or directory\n",
                        capsys.readouterr().err)


# ---------------------------------------------------------------- hypothesis: plan, or one StudyError line
KEYS = ["lr", "mode", "model", "batch_size", "augment", "top_k", "weight_decay", "lrr", "max_epochs", "task", "x"]
atoms = st.one_of(st.integers(-3, 70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                  st.sampled_from(["fine_tune", "off_the_shelf", "tiny_cnn", "none", "halving", "", "1e-3"]))
specs = st.one_of(
    st.builds(lambda kind, a, b: f"{kind}:{a}:{b}", st.sampled_from(["loguniform", "uniform", "int", "log", "choice"]),
              st.sampled_from(["0", "1e-4", "-1", "8", "0.5", "x", "nan"]), st.sampled_from(["1e-1", "64", "0", "2", ""])),
    st.text(string.printable, max_size=12), st.lists(atoms, max_size=3))
tables = st.dictionaries(st.sampled_from(KEYS), st.one_of(atoms, st.lists(atoms, max_size=3), specs), max_size=3)
study_dicts = st.fixed_dictionaries(
    {"name": st.sampled_from(["s", "my study", ""]), "question": st.sampled_from(["q?", ""])},
    optional={"scientific": tables, "nuisance": tables, "fixed": tables, "demo": tables,
              "search": st.sampled_from(["grid", "optuna", "random"]), "samples_per_cell": st.integers(-1, 3),
              "scheduler": st.sampled_from(["fifo", "asha", "hyperband"]), "metric": st.sampled_from(["val_acc", "acc"]),
              "direction": st.sampled_from(["max", "min"]), "planner": st.sampled_from(["cross_collection", "x"])})


def plans_or_one_line(build):
    try:
        space = build()
        plan_for_display(space)
    except StudyError as err:
        assert "\n" not in str(err) and str(err).strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=study_dicts)
def test_generated_study_files_plan_or_are_refused_in_one_line(data, tmp_path):
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):
        return  # not expressible in TOML: no file to read
    path = tmp_path / "gen.toml"
    path.write_text(text)
    plans_or_one_line(lambda: load_study(path))


options = st.builds(lambda key, text: f"{key}={text}", st.sampled_from(KEYS), st.one_of(specs.filter(
    lambda s: isinstance(s, str)), st.text(string.printable, max_size=15)))


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(list_spaces()), grid=st.lists(options, max_size=2), tune=st.lists(options, max_size=2),
       samples=st.one_of(st.none(), st.integers(-1, 3)))
def test_generated_grid_and_tune_options_plan_or_are_refused_in_one_line(name, grid, tune, samples):
    plans_or_one_line(lambda: with_axes(get_space(name), grid, tune, samples))


def test_the_readmes_example_study_file_plans(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Your own study", 1)[1]
    text = section.split("```toml\n", 1)[1].split("```", 1)[0]
    space = load_study(write_text(tmp_path / "augment_type.toml", text))
    assert f"--space {space.name}.toml" in section and f"artstudy-results/{space.name}" in section
    [stage] = plan_for_display(space)
    assert stage.num_trials == 2 * 2 * space.samples_per_cell  # model x augment, each cell searched
    assert set(stage.search) == {"lr", "batch_size"}


def write_text(path, text):
    path.write_text(text)
    return path


def test_a_task_axis_beside_the_halving_ladder_is_one_line(no_paper_weights):
    space = with_axes(get_space("label_pruning"), ["task=type,artist"], [], None)
    with pytest.raises(StudyError, match="run the study once per task with --set task=T"):
        plan_for_display(space)
