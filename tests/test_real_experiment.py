"""The session's real experiment folder (conftest `real_experiment`) is what analysis expects to read."""

from analysis import load_trials


def test_analysis_reads_every_trial_of_a_real_ray_folder(real_experiment):
    trials = load_trials(real_experiment)
    assert sorted(trials["mode"]) == ["fine_tune", "off_the_shelf"]
    assert trials["test_acc"].between(0, 1).all() and (trials["n_test"] > 0).all()
