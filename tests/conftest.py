"""Shared test setup: every cache in a temporary folder, Ray on loopback, one torch thread.

Fixtures that build real collections live beside the tests that need them, or below.
"""

import os
import tempfile

# Set before anything imports Ray or torch, so worker processes inherit them too.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a local Ray binds 127.0.0.1 only
os.environ.setdefault("ARTSTUDY_CACHE", tempfile.mkdtemp(prefix="artstudy-test-cache-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
