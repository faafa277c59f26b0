"""The one declaration of defaults (study/config.py): the paper's per-mode optimiser, what a null in an
old params.json means, and that the spaces and analysis read the trial config instead of restating it."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.config import DEMO_BUDGET, PAPER_RECIPE, ConfigError, TrialConfig, resolve_config

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
    assert all(DEMO_BUDGET[k] < getattr(defaults, k) for k in ("max_epochs", "patience"))


def test_spaces_and_analysis_read_the_declaration_not_a_copy():
    from analysis.roles import DEFAULTS
    from search_spaces import get_space

    assert get_space("grid_paper").fixed is PAPER_RECIPE and get_space("grid_paper").demo is DEMO_BUDGET
    assert all(getattr(TrialConfig, k) == v for k, v in DEFAULTS.items())
