"""What a run exposes: a local Ray on loopback only, its dashboard behind Ray's token, and checkpoints
that cannot run code when loaded.

The dashboard is the real one (`pip install -e ".[dashboard]"`, which .ci/run does), started the way
`python -m study.run` starts it, in its own process with its own HOME so that the token Ray generates
(~/.ray/auth_token) is a fresh one and the user's is never touched.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from study.trial.run_trial import load_state, save_state
from study.trial.weights import WeightsError

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json, os, urllib.error, urllib.request
    from pathlib import Path

    import psutil

    from study.run.cluster import prepare_environment
    prepare_environment(None)  # what study.run does before importing Ray
    import ray
    from study.run.cluster import start_ray

    info = start_ray(None)
    url = info["dashboard"] if "://" in info["dashboard"] else "http://" + info["dashboard"]

    def get(headers):
        request = urllib.request.Request(url + "/api/jobs/", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    token = (Path.home() / ".ray" / "auth_token").read_text().strip()
    ours = {p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}
    listening = sorted({c.laddr.ip for c in psutil.net_connections("inet")
                        if c.status == psutil.CONN_LISTEN and c.pid in ours})
    print(json.dumps({"dashboard": info["dashboard"], "nodes": [n["NodeManagerAddress"] for n in ray.nodes()],
                      "listening": listening, "no_token": get({}), "wrong_token": get({"Authorization": "Bearer nope"}),
                      "token": get({"Authorization": f"Bearer {token}"}), "mode": os.environ.get("RAY_AUTH_MODE")}))
    ray.shutdown()
""")


def test_local_ray_and_dashboard_listen_on_loopback_behind_the_token(tmp_path):
    pytest.importorskip("ray.dashboard.optional_deps", reason="needs the dashboard extra: pip install -e '.[dashboard]'")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # the runner must set it itself
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["dashboard"].split(":")[0] == "127.0.0.1"
    assert set(seen["nodes"]) == {"127.0.0.1"}
    assert seen["listening"] and {ip.removeprefix("::ffff:") for ip in seen["listening"]} == {"127.0.0.1"}
    assert seen["mode"] == "token"
    assert seen["no_token"][0] == 401 and seen["wrong_token"][0] in (401, 403)
    status, jobs = seen["token"]
    assert status == 200 and isinstance(jobs, list) and jobs[0]["type"] == "DRIVER"
    assert (tmp_path / ".ray" / "auth_token").is_file()


class Payload:
    """Unpickling this would create a file: what a tampered checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    good = tmp_path / "state.pt"
    save_state({"epoch": 2, "model": {"w": torch.ones(2)}}, good)
    assert load_state(good)["epoch"] == 2
    marker = tmp_path / "pwned"
    torch.save({"epoch": 2, "model": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="holds a pickled .* will not be unpickled") as error:
        load_state(tmp_path / "evil.pt")
    assert "\n" not in str(error.value)
    assert not marker.exists()
