"""Where the trials run: a local Ray on the loopback interface, or an existing Ray cluster.

Without an address, `start_ray` starts Ray on this machine bound to 127.0.0.1 only (nothing on
the network can reach it), with the dashboard when `ray[default]` is installed. Ray >= 2.5x turns
token authentication on by default for such a local cluster: the dashboard answers 401 until you
paste the token (`ray get-auth-token` prints it; it is kept in ~/.ray/auth_token). We keep it on.

With `--address ADDR` (or RAY_ADDRESS), the runner joins that cluster instead; the storage folder
and the collection must then be visible from every node (README, "From one machine to a Ray cluster").
"""

from __future__ import annotations

import os
from pathlib import Path

from study.errors import StudyError

LOOPBACK = "127.0.0.1"


class ClusterError(StudyError):
    """No way to run the trials as asked (no GPU, a non-loopback local node, ...)."""


def prepare_environment(address: str | None) -> None:
    """Set what Ray reads when first imported; call before anything imports Ray."""
    if not (address or os.environ.get("RAY_ADDRESS")):
        # Linux: Ray binds a node to the machine's routable address unless told that this is a
        # local, single-machine cluster; then every Ray port listens on 127.0.0.1 only.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    elif "RAY_AUTH_MODE" not in os.environ and token_available():
        # Ray turns token authentication on by itself only for a local cluster or --address auto;
        # a cluster named by its address gets the token too, when this machine holds one.
        os.environ["RAY_AUTH_MODE"] = "token"


def token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def dashboard_installed() -> bool:
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what Ray itself checks: aiohttp & co)
    except ImportError:
        return False
    return True


def check_local_gpus(gpus_per_trial: float) -> None:
    """Refuse GPU trials on a machine without a visible GPU, before Ray starts."""
    if gpus_per_trial <= 0:
        return
    import torch

    if not torch.cuda.is_available():
        raise ClusterError(
            f"--gpus-per-trial {gpus_per_trial:g} but no GPU is visible here (torch.cuda.is_available() is False); "
            "use --gpus-per-trial 0, or --address to join a cluster with GPUs"
        )


def start_ray(address: str | None, gpus_per_trial: float = 0.0, log=print) -> dict:
    """Initialise Ray (or reuse a running `ray.init` of this process); return what was started."""
    import ray

    info: dict = {"address": address or os.environ.get("RAY_ADDRESS") or "local", "dashboard": None}
    if ray.is_initialized():  # e.g. a test fixture, or a notebook that started Ray itself
        info["address"] = "this process's Ray"
    elif address or os.environ.get("RAY_ADDRESS"):
        try:
            ray.init(address=address or None, log_to_driver=True)
        except ConnectionError as e:
            raise ClusterError(f"cannot join the Ray cluster at {address or os.environ['RAY_ADDRESS']} ({e}); check "
                               "the address, and that this machine has the cluster's token (~/.ray/auth_token or "
                               "RAY_AUTH_TOKEN) with RAY_AUTH_MODE=token") from None
    else:
        check_local_gpus(gpus_per_trial)
        prepare_environment(None)  # study.run did this before importing Ray; the node address is checked below
        with_dashboard = dashboard_installed()
        # address="local": always a new Ray of our own. Without it ray.init joins whatever cluster
        # /tmp/ray/ray_current_cluster names, and one left by a crashed `ray start` hangs the run on a GCS
        # that no longer exists (seen: "Failed to connect to GCS ... within 5 seconds", forever).
        context = ray.init(address="local", include_dashboard=with_dashboard, dashboard_host=LOOPBACK)
        info["dashboard"] = getattr(context, "dashboard_url", None) or None
        addresses = sorted({n.get("NodeManagerAddress") for n in ray.nodes() if n.get("Alive", True)})
        if addresses != [LOOPBACK]:
            ray.shutdown()
            raise ClusterError(f"the local Ray bound to {', '.join(map(str, addresses))}, not {LOOPBACK}; "
                               "set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 or use --address")
        info["address"] = f"local Ray on {LOOPBACK}"
        if not with_dashboard:
            info["dashboard_note"] = "no dashboard (pip install 'artstudy[dashboard]' for ray[default])"

    if gpus_per_trial > 0 and ray.cluster_resources().get("GPU", 0) <= 0:
        raise ClusterError(f"--gpus-per-trial {gpus_per_trial:g} but the Ray cluster has no GPU; "
                           "use --gpus-per-trial 0 or join a cluster with GPUs")
    info["resources"] = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
    log(f"ray: {info['address']}; resources {format_resources(info['resources'])}")
    if info["dashboard"]:
        url = info["dashboard"] if "://" in info["dashboard"] else f"http://{info['dashboard']}"
        log(f"ray dashboard: {url}  (token authentication is on: paste the token that "
            f"`ray get-auth-token` prints, kept in {Path.home() / '.ray' / 'auth_token'})")
        if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
            log("warning: RAY_AUTH_MODE=disabled: anyone who can reach the dashboard port can run code here")
    elif info.get("dashboard_note"):
        log(f"ray dashboard: {info['dashboard_note']}")
    return info


def format_resources(resources: dict) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in sorted(resources.items())) or "none"
