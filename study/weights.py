"""Fetch ImageNet weights ahead of a run, on a machine with internet: the one place that downloads.

    python -m study.weights fetch resnet50 vgg19 ...   # --dir DIR to choose where (default: torch's cache)
    python -m study.weights list                       # which backbones' ImageNet files are present

Trials never download (study/trial/weights.py says why); this command puts the files where they look.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from study.errors import StudyError, exit_on_error
from study.trial import models
from study.trial.weights import (WEIGHTS_DIR_ENV, ImagenetSource, WeightsError, WeightsNotFound, find_imagenet,
                                 load_file, search_dirs)


def fetch(source: ImagenetSource, dest: Path, model: str) -> Path:
    if source.package:  # installed with a Python package: nothing to download, only to check
        found = find_imagenet(source, model)
        load_file(found)
        return found
    dest.mkdir(parents=True, exist_ok=True)
    if source.url:
        target = dest / source.file
        if not target.is_file():
            try:
                torch.hub.download_url_to_file(source.url, str(target), hash_prefix=source.sha256_prefix or None)
            except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch a RuntimeError
                raise WeightsError(f"could not download {model}'s weights from {source.url}: {err}; "
                                   f"fetch on a machine with internet and copy {source.file} to {dest}") from None
        load_file(target)  # refuse to leave behind a file a trial could not read
        return target
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(source.hf_hub_id, "model.safetensors"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.weights", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="download ImageNet weights into the cache (needs internet)")
    get.add_argument("models", nargs="+", metavar="MODEL", help=f"any of: {', '.join(models.list_models())}, or all")
    get.add_argument("--dir", type=Path, default=None,
                     help=f"where to put them (default: ${WEIGHTS_DIR_ENV} if set, else torch's cache)")
    sub.add_parser("list", help="each backbone and whether its ImageNet file is present")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name in models.list_models():
                source = models.get_info(name).imagenet
                if source is None:
                    print(f"{name:18s} (no ImageNet weights)")
                    continue
                try:
                    print(f"{name:18s} {find_imagenet(source, name)}")
                except WeightsNotFound:
                    print(f"{name:18s} missing: {source.file}")
            return 0
        names = models.list_models() if args.models == ["all"] else args.models
        dest = args.dir or search_dirs()[0]
        for name in names:
            source = models.get_info(name).imagenet
            if source is None:
                raise WeightsError(f"{name} has no ImageNet weights to fetch (it trains from random init)")
            print(f"{name}: {fetch(source, dest, name)}")
        return 0
    except StudyError as err:
        return exit_on_error(err)


if __name__ == "__main__":
    sys.exit(main())
