"""Everything that talks to Ray: plan a search space's trials, run them as Ray Tune experiments, report.

`python -m study.run --space NAME` (study/run/cli.py) is the entry point. Ray enters here: no layer below
imports it (the trial it schedules is study/trial/, plain PyTorch); of the applications above, the bench
drives Ray too (docs/architecture.md).
"""
