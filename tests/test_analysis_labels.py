"""Figures stay legible with long values: weights named by what they are, not by a checkpoint's absolute path."""

import io
import json
import warnings

import fake_experiment as fake
from analysis.figures import grid_heatmap, learning_curves
from analysis.labels import value_label, weights_label
from analysis.load import load_experiment

FLOOR = 0.25  # of the figure's width and height: an axes squeezed by its legend falls far below this


def _source_model(tmp_path):
    """A first stage's trial folder (params.json, a final checkpoint) deep under a long path, and its model.pt."""
    trial = (tmp_path / ("very_long_storage_folder_name_" * 3) / "cross_collection-source"
             / "trainable_1c8a5_00003_3_lr=0.0010,seed=0_2026-11-29_08-23-14")
    (trial / "checkpoint_000002").mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"collection": "rijksmuseum", "task": "type"}))
    return str(trial / "checkpoint_000002" / "model.pt")


def test_weights_are_labelled_by_what_they_are(tmp_path):
    model = _source_model(tmp_path)
    assert weights_label(model) == "stage 1: rijksmuseum/type, trial 00003"
    assert weights_label("/elsewhere/trainable_1c8a5_00007_7_x/checkpoint_000001/model.pt") == "stage 1: trial 00007"
    assert (weights_label("imagenet"), weights_label(None)) == ("imagenet", "none")
    assert value_label("weights", "none") == "random initialisation"


def test_figures_keep_their_axes_with_long_weights_values(tmp_path):
    model = _source_model(tmp_path)
    trials = []
    for i, (weights, used) in enumerate([(model, model), ("imagenet", "imagenet"), ("imagenet", "none")]):
        for mode in ("off_the_shelf", "fine_tune"):
            config = {"collection": "demo", "task": "material", "model": "efficientnet_lite0", "mode": mode,
                      "weights": weights, "seed": i}
            epochs = fake.epochs_from([1.0, 0.9, 0.95], [0.3, 0.4, 0.38])
            final = fake._final(fake.random.Random(i), config, epochs, 5, 0.5)
            final["weights_used"] = used
            trials.append(fake.FakeTrial(config, epochs, final))
    exp = load_experiment(fake.write_experiment(tmp_path / "cross", trials))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        curves = learning_curves(exp.history, trials=exp.trials)
        heat = grid_heatmap(exp.trials, ["weights"], "mode")
        for fig in (curves, heat):
            fig.savefig(io.BytesIO(), format="png")
    assert not [w for w in caught if "collapsed" in str(w.message)]
    for fig in (curves, heat):
        box = fig.axes[0].get_position()
        assert box.width > FLOOR and box.height > FLOOR
    legend = [t.get_text() for t in curves.legends[0].get_texts()]
    assert any("stage 1: rijksmuseum/type, trial 00003" in t for t in legend)
    assert not any("model.pt" in t or "none" in t and "imagenet" in t for t in legend)
    rows = [t.get_text() for t in heat.axes[0].get_yticklabels()]
    assert sorted(rows) == ["imagenet", "none", "stage 1: rijksmuseum/type, trial 00003"]
