"""A fault under real Ray: a node lost (its raylet and workers SIGKILLed, as in a power cut) while two
trials run on it. A two-node loopback cluster runs `python -m study.run --space smoke` (tests/runs.py);
Ray retries the lost trials on the node added in its place, from their last checkpoints, and they end as
conftest's clean_smoke_run did: every epoch once, the same validation losses and the same test metrics.
"""

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from runs import EPOCHS, REPO, by_mode, epochs, restarts, rows, same_results, trials

pytestmark = pytest.mark.reliability


NODE_LOSS = textwrap.dedent("""
    import atexit, json, subprocess, sys, time
    from pathlib import Path

    import psutil
    import ray._private.ray_constants as constants
    from ray.cluster_utils import Cluster

    from runs import epochs, rows, smoke_argv, trials

    demo_root, storage = sys.argv[1], sys.argv[2]
    loopback = {"node_ip_address": "127.0.0.1"}
    # The head takes no trial, so both trials start on the doomed node (under load, one CPU a node let
    # the scheduler put both on the head one after the other, and no node was ever lost mid-trial).
    cluster = Cluster(initialize_head=True, head_node_args={**loopback, "num_cpus": 0, "include_dashboard": False})
    doomed = cluster.add_node(**loopback, num_cpus=2)
    cluster.wait_for_nodes()
    raylet = psutil.Process(doomed.all_processes[constants.PROCESS_TYPE_RAYLET][0].process.pid)
    folder = Path(storage) / "n"
    # Two fine-tuning trials (seeds 0 and 1): their epochs are the slow ones, so the node goes mid-trial.
    argv = smoke_argv(demo_root, storage, "n", "--address", cluster.address, "--seeds", "2") + ["mode=fine_tune"]
    with open(f"{storage}/run.log", "w") as log:
        run = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(run.kill)  # whatever happens here, the driver does not outlive this script
        seen = {}
        deadline = time.monotonic() + 240
        while not seen and run.poll() is None and time.monotonic() < deadline:
            on_doomed = {p.pid for p in raylet.children(recursive=True)}
            for trial in trials(folder):
                lines = rows(trial)
                if epochs(lines) and lines[-1]["pid"] in on_doomed and not any("test_acc" in r for r in lines):
                    # The node is lost at once, as in a power cut: its raylet and workers SIGKILLed together.
                    for process in [raylet, *raylet.children(recursive=True)]:
                        process.kill()
                    seen = {"victim": str(trial), "epochs_before": epochs(lines)}
                    break
            time.sleep(0.01)
        if seen:
            cluster.remove_node(doomed, allow_graceful=False)  # Ray's bookkeeping; its processes are gone
            cluster.add_node(**loopback, num_cpus=2)  # the other node, where the trials must finish
        seen["returncode"] = run.wait(timeout=300)
    cluster.shutdown()
    print(json.dumps(seen))
""")


def test_trials_on_a_lost_node_finish_on_the_other_from_their_checkpoints(demo_root, tmp_path, clean_smoke_run):
    # A cluster with its own token, as README's cluster recipe asks: nothing here uses the user's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    env.update(HOME=str(tmp_path), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16),
               PYTHONPATH=os.pathsep.join([str(REPO), str(Path(__file__).parent)]))
    done = subprocess.run([sys.executable, "-c", NODE_LOSS, str(demo_root), str(tmp_path)], capture_output=True,
                          text=True, timeout=480, env=env, cwd=REPO)
    output = done.stdout[-3000:] + done.stderr[-3000:] + (tmp_path / "run.log").read_text()[-3000:]
    assert done.returncode == 0, output
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "victim" in seen, "no trial was seen running on the second node:\n" + output
    assert seen["returncode"] == 0, output

    found = {rows(t)[0]["config"]["seed"]: rows(t) for t in trials(tmp_path / "n")}
    assert sorted(found) == [0, 1]
    for lines in found.values():
        assert epochs(lines) == list(range(1, EPOCHS + 1))  # every epoch once
        assert len([r for r in lines if "test_acc" in r]) == 1
    victim = rows(Path(seen["victim"]))
    assert len(restarts(victim)) == 2, victim
    assert 1 < restarts(victim)[1] <= max(seen["epochs_before"]) + 2  # from its checkpoint, not from scratch
    assert {r["node_ip"] for lines in found.values() for r in lines} == {"127.0.0.1"}
    same_results(found[0], by_mode(clean_smoke_run)["fine_tune"])  # seed 0 is the clean run's fine-tune trial
