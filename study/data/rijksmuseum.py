"""The Rijksmuseum Challenge 2014 layout: `xml2/<id>.xml` Dublin Core records, `jpg2/<id>.jpg` images.

The labelling rules are in dublin_core.py. Records are parsed in chunks by worker processes:
the real collection's 112,039 records take seconds (see `python -m study.bench.data metadata`).
Files in jpg2/ without a record are ignored, and so are other files in either folder (Thumbs.db).
A record that is a symbolic link out of the root is not read, and one whose file name is not valid
UTF-8 cannot give an id: both are `bad_metadata` (an image linking out of the root is refused the
same way by make_collection).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from study.data.collection import (IMAGE_EXTENSIONS, Collection, DataError, inside_root, make_collection,
                                   unicode_name)
from study.data.dublin_core import TASKS, parse_files
from study.data.parallel import chunked, map_chunks, worth_processes

CHUNK = 2000  # records per worker task: ~0.1-0.2 s of parsing, so pickling the results stays small beside it


def read_rijksmuseum(root: Path, name: str = "rijksmuseum") -> Collection:
    """Read every `xml2/*.xml` record; images are `jpg2/<id>.jpg` (checked later, when a task needs them)."""
    root = Path(root).resolve()
    xml_dir, jpg_dir = root / "xml2", root / "jpg2"
    if not xml_dir.is_dir() or not jpg_dir.is_dir():
        raise DataError(f"{root} is not a {name} collection: expected folders xml2/ (records <id>.xml) "
                        f"and jpg2/ (images <id>.jpg) in it")
    records = sorted(e.name for e in os.scandir(xml_dir) if e.name.lower().endswith(".xml") and e.is_file())
    if not records:
        raise DataError(f"{root} is not a {name} collection: xml2/ holds no <id>.xml records")
    # One listing instead of 112k stats. `<id>.jpg` is the layout; `<id>.JPG` or `.jpeg` are accepted.
    # A record whose image is absent keeps the expected path, unreadable if the record is labelled.
    # Paths are joined as strings: pathlib costs seconds over 112k records.
    names = set(os.listdir(jpg_dir))
    other = {os.path.splitext(n)[0]: n for n in sorted(names)
             if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS}
    named = [unicode_name(record[:-4]) for record in records]  # every name ends in .xml, in some case
    ids = [i for i, _ in named]
    xml_prefix, jpg_prefix = f"{xml_dir}{os.sep}", f"{jpg_dir}{os.sep}"
    files = [xml_prefix + r for r in records]
    usable = [ok and inside for (_, ok), inside in zip(named, inside_root(root, files))]
    parsed = iter([row for chunk in map_chunks(parse_files, chunked([f for f, u in zip(files, usable) if u], CHUNK),
                                               desc="reading records", processes=worth_processes(len(records)))
                   for row in chunk])
    parsed = [next(parsed) if u else [(None, "bad_metadata")] * len(TASKS) for u in usable]
    table = pd.DataFrame({
        "image_id": ids,
        "path": [jpg_prefix + (f"{i}.jpg" if f"{i}.jpg" in names else other.get(i, f"{i}.jpg")) for i in ids],
    })
    reasons = pd.DataFrame(index=table.index)
    for t, task in enumerate(TASKS):
        table[task] = pd.Series([row[t][0] for row in parsed], dtype=object)
        reasons[task] = pd.Series([row[t][1] for row in parsed], dtype=object)
    return make_collection(name, root, TASKS, table, reasons)
