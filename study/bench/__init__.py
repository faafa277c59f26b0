"""Performance ratios between two runs of the same moment on this machine (`python -m study.bench`).

feature_cache.py: the feature cache against the frozen backbone run every epoch; data.py: metadata
reading and the image cache against decoding. Nothing else imports the bench.
"""
