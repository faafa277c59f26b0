"""Everything that talks to Ray: plan a search space's trials, run them as Ray Tune experiments, report.

`python -m study.run --space NAME` (study/run/cli.py) is the entry point. This is the only layer that
imports Ray; the trial it schedules is study/trial/ (docs/architecture.md).
"""
