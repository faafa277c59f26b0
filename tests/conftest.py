"""Shared test setup: every cache in a temporary folder, Ray on loopback, one torch thread.

Fixtures that build real collections live beside the tests that need them, or below.
"""

import atexit
import os
import shutil
import tempfile

import pytest

# Set before anything imports Ray or torch, so worker processes inherit them too.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a local Ray binds 127.0.0.1 only
if "ARTSTUDY_CACHE" not in os.environ:  # a fresh cache per session, removed when it ends
    os.environ["ARTSTUDY_CACHE"] = tempfile.mkdtemp(prefix="artstudy-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ARTSTUDY_CACHE"], ignore_errors=True)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


DEMO_IMAGES = 300  # enough for every task to keep 11-18 classes in every split; written in 1-2 s


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A small demo collection (Rijksmuseum layout, 300 images, seed 0), written once per test session."""
    from study.data import write_demo

    return write_demo(tmp_path_factory.mktemp("demo") / "demo", images=DEMO_IMAGES, seed=0)
