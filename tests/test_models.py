"""The backbone registry: every backbone builds, runs forward and backward, and freezes as its mode says.

Each backbone runs at its minimum input size with a batch of 2 (vit_b_16 only takes 224 px: ~6 s).
"""

import re

import pytest
import timm
import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import vgg as tv_vgg

from study.trial import backbones, catalogue, models
from study.trial.models import ModelError, get_info, get_model, list_models, set_mode

PAPER = ["vgg19", "inception_v3", "xception", "resnet50"]


def test_registry_lists_the_paper_models_and_the_rest():
    names = list_models()
    assert set(PAPER + ["alexnet", "resnet18", "efficientnet_b0", "convnext_tiny", "vit_b_16", "tiny_cnn"]) <= set(names)
    assert names == sorted(names)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelError, match="known models: alexnet, .*vgg19"):
        get_model("resnet51", 3)


def test_duplicate_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        models.register_model(get_info("tiny_cnn"))(backbones.tiny_cnn)


def test_sizes_and_normalisation_come_from_the_weights():
    assert get_info("inception_v3").default_size == 299 and get_info("inception_v3").min_size == 75
    assert get_info("xception").default_size == 299 and get_info("xception").mean == (0.5, 0.5, 0.5)
    assert get_info("resnet50").default_size == 224 and get_info("resnet50").std == (0.229, 0.224, 0.225)
    assert get_info("vgg19").feature_dim == 512 and get_info("alexnet").feature_dim == 256
    assert models.input_size("resnet50", 0) == 224
    with pytest.raises(ModelError, match="at least 75 px"):
        models.input_size("inception_v3", 64)
    with pytest.raises(ModelError, match="224 px inputs only"):
        models.input_size("vit_b_16", 192)


def weight_facts(name: str) -> dict:
    """What the catalogue writes out as data, derived again from the libraries that publish the weights:
    torchvision's IMAGENET1K_V1 enum (its eval preset, its metadata, its URL) or timm's pretrained config."""
    if name in backbones.LITE_ARCHS or name == "xception":
        cfg = timm.models.get_pretrained_cfg(backbones.LITE_ARCHS.get(name, backbones.XCEPTION_ARCH))
        facts = {"default_size": cfg.input_size[-1], "mean": tuple(cfg.mean), "std": tuple(cfg.std)}
        if name == "xception":
            facts.update(file=cfg.url.rsplit("/", 1)[-1], url=cfg.url, tag=f"timm {backbones.XCEPTION_ARCH}.{cfg.tag}")
        return facts
    enum = tvm.get_model_weights(name).IMAGENET1K_V1
    preset = enum.transforms()
    return {"default_size": preset.crop_size[0], "min_size": max(32, enum.meta["min_size"][0]),
            "mean": tuple(preset.mean), "std": tuple(preset.std), "file": enum.url.rsplit("/", 1)[-1],
            "url": enum.url, "tag": f"torchvision {type(enum).__name__}.{enum.name}",
            "sha256_prefix": re.search(r"-([a-f0-9]+)\.pth$", enum.url).group(1)}


@pytest.mark.parametrize("name", sorted(set(catalogue.BUILT_IN) - {"tiny_cnn"}))
def test_the_catalogue_holds_what_the_weights_publish(name):
    info = catalogue.BUILT_IN[name]
    written = {**vars(info), **vars(info.imagenet)}
    expected = weight_facts(name)
    assert {key: written[key] for key in expected} == expected


def test_vgg19_blocks_are_the_conv_layers_between_its_max_pools():
    blocks, current = [], []
    for i, layer in enumerate(tv_vgg.make_layers(tv_vgg.cfgs["E"])):
        if isinstance(layer, nn.Conv2d):
            current.append(f"features.{i}")
        elif isinstance(layer, nn.MaxPool2d):
            blocks.append(tuple(current))
            current = []
    assert get_info("vgg19").blocks == tuple(blocks) and len(blocks) == 5


def test_the_catalogue_and_the_builders_name_the_same_backbones():
    assert sorted(catalogue.BUILT_IN) == sorted(backbones._BUILDERS) == list_models()


def _bn_stats(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items() if "running" in k or "num_batches" in k}


@pytest.mark.parametrize("name", list_models())
def test_backbone_trains_in_both_modes(name):
    info = get_info(name)
    torch.manual_seed(0)
    model = get_model(name, num_classes=3)
    assert models.backbone_blocks_check(model) == [], "every backbone parameter belongs to a block"
    x, y = torch.randn(2, 3, info.min_size, info.min_size), torch.tensor([0, 2])

    # off the shelf: only the head learns; BatchNorm keeps its statistics even in train mode
    set_mode(model, "off_the_shelf")
    model.train()
    before = _bn_stats(model.backbone)
    logits = model(x)
    assert logits.shape == (2, 3)
    nn.functional.cross_entropy(logits, y).backward()
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    assert all(torch.equal(before[k], v) for k, v in _bn_stats(model.backbone).items())

    # fine tune: every parameter gets a gradient
    model.zero_grad(set_to_none=True)
    set_mode(model, "fine_tune")
    model.train()
    nn.functional.cross_entropy(model(x), y).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"


def test_trainable_blocks_unfreezes_the_last_blocks_only():
    model = get_model("resnet18", num_classes=4)
    set_mode(model, "fine_tune", trainable_blocks=1)
    model.train()
    trained = {n.split(".")[0] for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trained == {"layer4"}
    assert all(p.requires_grad for p in model.head.parameters())
    assert model.backbone.layer4[0].bn1.training and not model.backbone.layer3[0].bn1.training
    before = _bn_stats(model.backbone.layer3)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(torch.equal(before[k], v) for k, v in _bn_stats(model.backbone.layer3).items())
    assert model.backbone.layer4[0].conv1.weight.grad is not None and model.backbone.conv1.weight.grad is None


def test_mode_errors():
    model = get_model("tiny_cnn", num_classes=2)
    with pytest.raises(ModelError, match="fine_tune only"):
        set_mode(model, "off_the_shelf", trainable_blocks=1)
    with pytest.raises(ModelError, match="has 3 blocks"):
        set_mode(model, "fine_tune", trainable_blocks=4)
    with pytest.raises(ModelError, match="mode='frozen'"):
        set_mode(model, "frozen")
