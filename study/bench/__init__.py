"""Performance ratios between two runs of the same moment on this machine (`python -m study.bench`).

cli.py runs the rows and prints the table; rows.py is a row (ratio, target, met); one module per
comparison: feature_cache.py (a), loop.py (b, d), data.py (c; also `python -m study.bench.data`),
passes.py (e), memory.py (f), experiment.py (g, h), finetune.py (i). gpu.sh is the GPU run. Nothing else imports the bench.
"""
