"""Weights: ImageNet files found on disk (never downloaded), clear errors, earlier checkpoints, no unpickling."""

import time
from pathlib import Path

import pytest
import timm
import torch
import torchvision

from study import weights  # the fetch|list command line
from study.trial import imagenet_files
from study.trial.models import get_info, get_model
from study.trial.weights import WeightsError, WeightsNotFound


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """No ImageNet file anywhere: torch's cache and the weights folder point at empty folders."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ARTSTUDY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_missing_imagenet_weights_fail_fast_naming_the_file(empty_caches):
    start = time.perf_counter()
    with pytest.raises(WeightsNotFound) as err:
        get_model("resnet50", 3, weights="imagenet")
    assert time.perf_counter() - start < 5  # no download attempt
    message = str(err.value)
    assert "resnet50-0676ba61.pth" in message and str(empty_caches / "weights") in message
    assert "python -m study.weights fetch resnet50" in message


def test_tiny_cnn_has_no_imagenet_weights():
    with pytest.raises(WeightsNotFound, match="tiny_cnn has no ImageNet weights"):
        get_model("tiny_cnn", 3, weights="imagenet")


@pytest.mark.parametrize("torch_home", [None, "TMP/th", "~/th"])
@pytest.mark.parametrize("xdg", [None, "TMP/xdg"])
def test_the_hub_folder_found_without_torch_is_torchs_own(tmp_path, monkeypatch, torch_home, xdg):
    # The runner looks for ImageNet files without importing torch (study/trial/imagenet_files.py):
    # under each setting its folder must be the one torch.hub itself answers.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name, value in (("TORCH_HOME", torch_home), ("XDG_CACHE_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.replace("TMP", str(tmp_path)))
    assert imagenet_files.default_hub_dir() == Path(torch.hub.get_dir())


def test_a_hub_folder_moved_in_this_process_is_where_files_are_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTSTUDY_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)  # restored after the test
    torch.hub.set_dir(str(tmp_path / "moved"))
    assert imagenet_files.search_dirs() == [tmp_path / "moved" / "checkpoints"]


@pytest.mark.parametrize("where", ["ARTSTUDY_WEIGHTS_DIR", "TORCH_HOME"])
def test_imagenet_weights_load_from_the_local_caches(empty_caches, where):
    # A stand-in for the published file: torchvision's own architecture, with its 1000-way classifier.
    reference = torchvision.models.resnet18()
    folder = empty_caches / "weights" if where == "ARTSTUDY_WEIGHTS_DIR" else empty_caches / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference.state_dict(), folder / get_info("resnet18").imagenet.file)
    model = get_model("resnet18", 5, weights="imagenet")
    assert torch.equal(model.backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert model.head.out_features == 5


def test_xception_loads_timm_weights(empty_caches):
    reference = timm.create_model("legacy_xception", pretrained=False)
    (empty_caches / "weights").mkdir()
    torch.save(reference.state_dict(), empty_caches / "weights" / get_info("xception").imagenet.file)
    model = get_model("xception", 2, weights="imagenet")
    assert torch.equal(model.backbone.block12.skip.weight, reference.block12.skip.weight)


def _payload(model, name):
    return {"model": name, "state_dict": model.state_dict(), "classes": ["a", "b", "c"], "num_classes": 3,
            "input_size": 32}


def test_checkpoint_backbone_is_taken_and_head_dropped(tmp_path):
    torch.manual_seed(1)
    earlier = get_model("resnet18", 3)
    (tmp_path / "ckpt").mkdir()
    torch.save(_payload(earlier, "resnet18"), tmp_path / "ckpt" / "model.pt")
    for source in (tmp_path / "ckpt", tmp_path / "ckpt" / "model.pt"):  # the folder or the file
        model = get_model("resnet18", 7, weights=str(source))
        assert torch.equal(model.backbone.conv1.weight, earlier.backbone.conv1.weight)
        assert model.head.out_features == 7
    # a raw state dict, of the whole model or of the backbone alone
    torch.save(earlier.state_dict(), tmp_path / "whole.pt")
    torch.save(earlier.backbone.state_dict(), tmp_path / "backbone.pt")
    for raw in ("whole.pt", "backbone.pt"):
        model = get_model("resnet18", 2, weights=str(tmp_path / raw))
        assert torch.equal(model.backbone.layer1[0].bn1.running_mean,
                           earlier.backbone.layer1[0].bn1.running_mean)


def test_checkpoint_of_another_backbone_is_refused(tmp_path):
    torch.save(_payload(get_model("tiny_cnn", 3), "tiny_cnn"), tmp_path / "model.pt")
    with pytest.raises(WeightsError, match="holds a tiny_cnn backbone, but this trial builds a resnet18"):
        get_model("resnet18", 3, weights=str(tmp_path / "model.pt"))
    torch.save(get_model("tiny_cnn", 3).state_dict(), tmp_path / "raw.pt")  # no name: the keys tell
    with pytest.raises(WeightsError, match="does not fit this backbone"):
        get_model("resnet18", 3, weights=str(tmp_path / "raw.pt"))


class Payload:
    """Unpickling this would create a file: what a malicious checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.reliability
def test_pickled_objects_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": "tiny_cnn", "state_dict": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="will not be unpickled"):
        get_model("tiny_cnn", 3, weights=str(tmp_path / "evil.pt"))
    assert not marker.exists()


def test_bad_weights_values(tmp_path):
    with pytest.raises(WeightsError, match="neither 'imagenet', 'none' nor an existing checkpoint"):
        get_model("tiny_cnn", 3, weights="imagnet")
    with pytest.raises(WeightsError, match="holds no model.pt"):
        get_model("tiny_cnn", 3, weights=str(tmp_path))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable torch checkpoint"):
        get_model("tiny_cnn", 3, weights=str(tmp_path / "junk.pt"))


def test_cli(empty_caches, capsys):
    assert weights.main(["fetch", "tiny_cnn"]) == 2
    assert "error: tiny_cnn has no ImageNet weights" in capsys.readouterr().err
    assert weights.main(["list"]) == 0
    assert "missing: vgg19-dcbb9e9d.pth" in capsys.readouterr().out
