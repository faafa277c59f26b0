"""The one declaration of defaults (study/config.py): the paper's per-mode optimiser, what a null in an
old params.json means, and that the spaces and analysis read the trial config instead of restating it."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from study.config import (CONFIG_KEYS, DEMO_BUDGET, PAPER_RECIPE, ConfigError, TrialConfig, coerce_value,
                          resolve_config)

# The paper (Sabatelli et al. 2018, section 3): RMSprop without momentum off the shelf, Nesterov SGD
# with momentum 0.9 fine-tuned; a named optimiser fills what it leaves open the same way.
PAPER = {"off_the_shelf": ("rmsprop", 0.0, False), "fine_tune": ("sgd", 0.9, True)}
OPEN = {"rmsprop": (0.0, False), "sgd": (0.9, True), "adamw": (0.0, False)}


@given(mode=st.sampled_from(sorted(PAPER)), optimizer=st.sampled_from([None, "rmsprop", "sgd", "adamw"]),
       momentum=st.sampled_from([None, 0.0, 0.5]), nesterov=st.sampled_from([None, False, True]),
       omit=st.booleans())
def test_the_optimiser_is_the_papers_for_the_mode_unless_named(mode, optimizer, momentum, nesterov, omit):
    given_ = {"mode": mode, "optimizer": optimizer, "momentum": momentum, "nesterov": nesterov}
    if omit:  # a key left out and a key given as null (an old params.json) mean the same
        given_ = {k: v for k, v in given_.items() if v is not None}
    chosen = optimizer or PAPER[mode][0]
    want_momentum = OPEN[chosen][0] if momentum is None else momentum
    want_nesterov = OPEN[chosen][1] if nesterov is None else nesterov
    if want_nesterov and chosen == "sgd" and not want_momentum:
        with pytest.raises(ConfigError, match="nesterov=true needs momentum"):
            resolve_config(given_)
        return
    cfg = resolve_config(given_)
    assert (cfg.optimizer, cfg.momentum, cfg.nesterov) == (chosen, want_momentum, want_nesterov)


def test_an_old_params_json_with_nulls_resolves():
    params = json.loads('{"mode": "fine_tune", "optimizer": null, "momentum": null, "nesterov": null, "lr": 0.001}')
    cfg = resolve_config(params)
    assert (cfg.optimizer, cfg.momentum, cfg.nesterov, cfg.lr) == ("sgd", 0.9, True, 1e-3)


def test_the_papers_recipe_is_the_trial_configs_defaults():
    defaults = TrialConfig()
    assert PAPER_RECIPE and all(getattr(defaults, k) == v for k, v in PAPER_RECIPE.items())
    assert PAPER_RECIPE["lr"] == 1e-3 and PAPER_RECIPE["patience"] == 7 and PAPER_RECIPE["batch_size"] == 32
    for budget in (DEMO_BUDGET.values, *DEMO_BUDGET.per_model.values()):  # the demo's, and a backbone's own
        assert all(budget[k] < getattr(defaults, k) for k in ("max_epochs", "patience"))


def test_spaces_and_analysis_read_the_declaration_not_a_copy():
    from analysis.roles import DEFAULTS
    from search_spaces import get_space

    assert get_space("grid_paper").fixed is PAPER_RECIPE and get_space("grid_paper").demo is DEMO_BUDGET.values
    assert all(getattr(TrialConfig, k) == v for k, v in DEFAULTS.items())


# ---------------------------------------------------------------- every --set value: valid, or one line
SET_KEYS = [k for k in CONFIG_KEYS if k not in ("collection", "data_root")]  # those two come from --data/--collection
AWKWARD = ["none", "None", "null", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e3", "1.5", "1.0", "0", "-1",
           "", " ", "true", "yes", "off", "0.8,0.1,0.1", "nan,0.5,0.5", "0.8,0.1", str(2**64), "9" * 5000,
           "４２", "1_000", "0x10"]
VALUES = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=12), st.integers().map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.from_regex(r"-?\d{1,4}(\.\d{0,3})?(e-?\d{1,3})?", fullmatch=True))
PYTHON_TYPE = {"int": int, "float": float, "bool": bool, "str": str}


@given(key=st.sampled_from(SET_KEYS), text=VALUES)
@settings(max_examples=400, deadline=None)
def test_every_set_value_is_valid_or_one_line_naming_key_value_and_what_is_allowed(key, text):
    from study.run.cli import parse_sets

    try:
        cfg = resolve_config(parse_sets([f"{key}={text}"]))
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message and "\r" not in message
        assert message.startswith(f"{key}=") or message.startswith(f"{key} cannot be empty"), message
        try:  # the value as typed, or as read (1e3 -> 1000) when only a later check refused it
            shown = [repr(text), repr(coerce_value(key, text))]
        except ConfigError:
            shown = [repr(text)]
        assert any(s in message for s in shown), message
        assert any(w in message for w in ("give", "choose", "must", "cannot", "needs", "leaves")), message
        return
    value = getattr(cfg, key)
    assert type(value) is PYTHON_TYPE[str(TrialConfig.__dataclass_fields__[key].type).replace(" | None", "")]
    if isinstance(value, float):
        assert math.isfinite(value)
    if key == "split":
        assert all(math.isfinite(p) for p in cfg.split_fractions)


@pytest.mark.parametrize("text, expected", [
    ("max_epochs=1e400", "max_epochs='1e400' is not a valid int: give a whole number"),
    ("max_epochs=2.5", "max_epochs='2.5' is not a valid int"),
    ("lr=nan", "lr='nan' is not a valid float: give a finite number"),
    ("lr=inf", "lr='inf' is not a valid float"),
    ("weight_decay=nan", "weight_decay='nan' is not a valid float"),
    ("weight_decay=-1", "weight_decay=-1.0 cannot be negative"),
    ("momentum=-0.5", "momentum=-0.5 cannot be negative"),
    ("seed=-1", "seed=-1 must be between 0 and 4294967295"),
    ("split=nan,0.5,0.5", "split='nan,0.5,0.5': give three fractions"),
])
def test_values_no_trial_could_use_are_refused(text, expected):
    from study.run.cli import parse_sets

    with pytest.raises(ConfigError) as err:
        resolve_config(parse_sets([text]))
    assert expected in str(err.value)


def test_weights_none_is_random_initialisation_and_none_resets_only_nullable_keys():
    from study.run.cli import parse_sets

    assert parse_sets(["weights=none"]) == {"weights": "none"}
    assert resolve_config(parse_sets(["weights=none"])).weights == "none"
    assert parse_sets(["optimizer=none", "momentum=null"]) == {"optimizer": None, "momentum": None}
    assert resolve_config(parse_sets(["mode=fine_tune", "optimizer=None"])).optimizer == "sgd"
    assert parse_sets(["task=none"]) == {"task": "none"}  # a string key keeps the word


def test_each_default_is_declared_once():
    """What `grep` checks, for literals: each single-source constant's value is written in study/config.py
    and in no other module of the package (a docstring may quote it; code may not restate it)."""
    import ast
    from pathlib import Path

    from study.config import HEAD_FITS, MODES, PAPER_MODELS, SAMPLERS

    wanted = {"MODES": MODES, "HEAD_FITS": HEAD_FITS, "PAPER_MODELS": PAPER_MODELS, "SAMPLERS": SAMPLERS,
              "split": TrialConfig.split, "split fractions": (0.8, 0.1, 0.1),
              "demo budget": dict(DEMO_BUDGET.values)}
    root = Path(__file__).resolve().parents[1]
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for path in sorted(p for top in ("study", "search_spaces", "analysis") for p in (root / top).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.Tuple, ast.List, ast.Dict, ast.Constant)):
                continue
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue
            for name, declared in wanted.items():
                if type(value) is type(declared) and value == declared:
                    found[name].append(f"{path.relative_to(root)}:{node.lineno}")
    assert TrialConfig.split == ",".join(map(str, wanted["split fractions"]))  # the split, as a tuple
    assert found.pop("split fractions") == [], "the default split restated as a tuple"
    assert all(len(places) == 1 and places[0].startswith("study/config.py:") for places in found.values()), found
