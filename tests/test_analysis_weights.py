"""Reports say which weights a number came from: the paper's number stands beside the paper's setting only,
roles follow what the trials varied, and every line of a figure is one kind of start."""

import math

import pytest

from analysis import load_experiment
import fake_experiment as testing
from analysis.figures import accuracy_vs_classes, learning_curves
from analysis.tables import paper_table

FALLBACK = "none (imagenet weights not found: demo fallback)"


def experiment(tmp_path, rows, fixed=("lr",)):
    """grid_paper-like trials on the Rijksmuseum: (model, mode, weights, weights_used, test_acc) each."""
    trials = []
    for i, (model, mode, weights, used, test) in enumerate(rows):
        config = {"collection": "rijksmuseum", "data_root": "/data/rijks", "task": "material", "model": model,
                  "mode": mode, "weights": weights, "top_k": 0, "seed": 0, "monitor": "val_loss"}
        epochs = testing.epochs_from([1.0, 0.9], [0.5, 0.6])
        final = {"best_epoch": 2, "test_acc": test, "test_bacc": test, "num_classes": 10, "n_train": 400,
                 "n_val": 50, "n_test": 50, "weights_used": used, "val_loss": 0.9, "val_acc": 0.6, "val_bacc": 0.6}
        trials.append(testing.FakeTrial(config, epochs, final))
    study = {"space": "grid_paper", "question": "q?", "metric": "val_acc", "mode": "max",
             "roles": {"scientific": ["task", "model", "mode"], "nuisance": [], "fixed": ["weights", *fixed]}}
    return load_experiment(testing.write_experiment(tmp_path / "exp", trials, study))


def test_the_published_number_stands_beside_imagenet_rows_only(tmp_path):
    exp = experiment(tmp_path, [("resnet50", "fine_tune", "imagenet", "imagenet", 0.8),
                                ("resnet50", "fine_tune", "none", "none", 0.3),
                                ("vgg19", "fine_tune", "imagenet", FALLBACK, 0.25)])
    table = paper_table(exp.trials, scientific=exp.roles.scientific, metric="val_acc", mode="max").frame
    by = {(r.model, r.weights_used): r for r in table.itertuples()}
    assert not math.isnan(by[("resnet50", "imagenet")].fine_tune_published)
    assert by[("resnet50", "imagenet")].fine_tune_diff == 80.0 - by[("resnet50", "imagenet")].fine_tune_published
    # random init, asked for or fallen back to: no published number beside it
    assert math.isnan(by[("resnet50", "none")].fine_tune_published)
    assert math.isnan(by[("vgg19", FALLBACK)].fine_tune_published)
    # every accuracy has its interval for n_test = 50: 40 of 50 right, Wilson's (66.963, 88.756)
    assert by[("resnet50", "imagenet")].fine_tune_ci_low == pytest.approx(66.963, abs=1e-3)
    assert by[("resnet50", "imagenet")].fine_tune_ci_high == pytest.approx(88.756, abs=1e-3)


def test_a_declared_fixed_key_the_trials_vary_is_compared(tmp_path):
    exp = experiment(tmp_path, [("resnet50", "fine_tune", "imagenet", "imagenet", 0.8),
                                ("resnet50", "fine_tune", "none", "none", 0.3)])
    assert "weights" in exp.roles.scientific and "weights" not in exp.roles.fixed
    assert any("weights" in note for note in exp.roles.notes)


def test_figures_draw_imagenet_and_random_init_apart(tmp_path):
    exp = experiment(tmp_path, [("resnet50", "fine_tune", "imagenet", "imagenet", 0.8),
                                ("resnet50", "fine_tune", "none", "none", 0.3)])
    labels = {line.get_label() for ax in learning_curves(exp.history, trials=exp.trials).axes for line in ax.lines}
    assert {"resnet50, fine-tune, imagenet", "resnet50, fine-tune, none"} <= labels
    gids = {line.get_gid() for ax in accuracy_vs_classes(exp.trials).axes for line in ax.lines}
    assert {"resnet50|fine_tune|imagenet", "resnet50|fine_tune|none"} <= gids
