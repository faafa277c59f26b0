"""The session's real experiment folder (conftest `real_experiment`) is what analysis expects to read."""

import pytest

from analysis import load_trials


def test_analysis_reads_every_trial_of_a_real_ray_folder(real_experiment):
    trials = load_trials(real_experiment)
    assert sorted(trials["mode"]) == ["fine_tune", "off_the_shelf"]
    assert trials["test_acc"].between(0, 1).all() and (trials["n_test"] > 0).all()


# ---------------------------------------------------------------- the report's tests, on Ray's own folder
@pytest.fixture(scope="module")
def real_report(real_experiment, tmp_path_factory):
    from analysis.report import write_report

    out = write_report(real_experiment, tmp_path_factory.mktemp("real-report"))
    return real_experiment, out


def test_the_report_of_a_real_run_holds_its_numbers(real_report, report_holds_the_trials_numbers):
    report_holds_the_trials_numbers(*real_report)


def test_the_report_of_a_real_run_is_valid_html(real_report):
    import test_analysis_report as report_tests

    report_tests.test_html_is_valid_and_self_contained(real_report)


def test_the_notebook_of_a_real_run_executes(real_report):
    import test_analysis_report as report_tests

    report_tests.test_notebook_executes(real_report)
