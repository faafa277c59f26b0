"""Command line of the data layer.

    python -m study.data demo --out /tmp/demo [--images N] [--seed 0]
    python -m study.data summary --collection rijksmuseum --root /tmp/demo [--task material]
                                 [--min-per-class N] [--top-k K] [--split-seed S] [--json]

Bad input prints `error: <what to do>` on one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from study.errors import StudyError, exit_on_error

# Nothing heavy at module level: worker processes import this module again when it is the main one.


def _parser() -> argparse.ArgumentParser:
    from study.config import DEMO_BUDGET, TrialConfig
    from study.data.registry import list_collections

    parser = argparse.ArgumentParser(
        prog="python -m study.data",
        description="Art collections for artstudy: write the embedded demo collection, or summarise what a "
                    "collection offers each task (images kept, classes, split sizes, records dropped and why).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{demo,summary}")

    demo = commands.add_parser(
        "demo", help="write the synthetic demo collection (Rijksmuseum layout)",
        description="Write the synthetic demo collection in the Rijksmuseum layout (jpg2/<id>.jpg, xml2/<id>.xml) "
                    "with material, type and artist labels. The same seed gives byte-identical files. "
                    "Read it back with: summary --collection rijksmuseum --root DIR")
    demo.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier demo to replace)")
    demo.add_argument("--images", type=int, default=DEMO_BUDGET.images,
                      help=f"number of records/images (default: {DEMO_BUDGET.images}, the demo budget's)")
    demo.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")

    summary = commands.add_parser(
        "summary", help="images, classes, split and drop counts for each task of a collection",
        description="For each task of a collection: the images kept, classes, train/val/test sizes, and the "
                    "records dropped, each counted once under the first reason that applies: bad_metadata, "
                    "no_label / multi_label, unreadable, pruned (min-per-class/top-k), rare_class (too few "
                    "images to occur in every split). The first run decodes each labelled image once to "
                    "check it; later runs reuse those verdicts.")
    summary.add_argument("--collection", required=True, metavar="C",
                         help=f"collection kind: {', '.join(list_collections())}")
    summary.add_argument("--root", default="", help="the collection's folder (optional for demo: the embedded one)")
    summary.add_argument("--task", default=None, help="one task (default: all of the collection's tasks)")
    summary.add_argument("--min-per-class", type=int, default=0, metavar="N",
                         help="keep classes with at least N images (default: 0 = off)")
    summary.add_argument("--top-k", type=int, default=0, metavar="K",
                         help="keep the K most frequent classes (default: 0 = off)")
    summary.add_argument("--split-seed", type=int, default=0, metavar="S", help="which split (default: 0)")
    summary.add_argument("--split", default=TrialConfig.split,
                         help=f"train,val,test fractions (default: {TrialConfig.split})")
    summary.add_argument("--cache-dir", default=None, help="where readability verdicts are kept "
                                                            "(default: $ARTSTUDY_CACHE or ~/.cache/artstudy)")
    summary.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from study import data

        if args.command == "demo":
            out = data.write_demo(args.out, images=args.images, seed=args.seed)
            print(f"wrote a demo collection of {args.images} images to {out}")
            print(f"read it with: python -m study.data summary --collection rijksmuseum --root {out}")
            return 0
        collection = data.read_collection(args.collection, args.root or None, cache_dir=args.cache_dir)
        result = data.summarize(collection, args.task, min_per_class=args.min_per_class, top_k=args.top_k,
                                split_seed=args.split_seed, split=args.split, cache_dir=args.cache_dir)
        print(json.dumps(result, indent=1) if args.json else data.format_summary(result))
        return 0
    except StudyError as error:
        return exit_on_error(error)


if __name__ == "__main__":
    sys.exit(main())
