"""The embedded demo collection: a synthetic Rijksmuseum in miniature, made on this machine.

    python -m study.data demo --out /tmp/demo [--images N] [--seed 0]

It has the Rijksmuseum Challenge layout (`jpg2/<id>.jpg`, `xml2/<id>.xml` Dublin Core records, ids
like `0000001_SK-A-4878`), so the rijksmuseum reader reads it and every rule of docs/contracts.md applies.
Labels are long-tailed like the real ones (a few large classes, many small ones, two per task so
small that the rare-class rule drops them, ~18 % anonymous makers), and the records vary as museum
exports do: namespaces declared on different elements, several dc:format/dc:type/dc:creator, Dutch
and English prefixes, role prefixes. Images are 96-128 px JPEGs that carry each task's class (see
demo_paint.py). The same seed gives byte-identical files. Its size by default is the demo budget's
(study.config.DEMO_BUDGET.images), whose runs read the one cached copy ensure_demo writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from filelock import FileLock
from PIL import Image

from study.atomic import full_disk_is_an_error
from study.config import DEMO_BUDGET, default_cache_dir
from study.data.collection import DataError, writable_folder
from study.data.demo_paint import paint
from study.data.parallel import check_not_bootstrapping

VERSION = 1  # bump when the output changes, so ensure_demo rebuilds instead of reusing an old demo
MARKER = "demo.json"
FINGERPRINT_RECORDS = 24  # records hashed byte for byte into the cached demo's folder name (see fingerprint)

# Each task: head classes (long tail by a power law) and tail classes with fixed sizes of 1 and 2
# images, which the rare-class rule must drop (a class needs n_train >= 1 after one val and one test).
MATERIALS = ["papier", "olieverf", "doek", "paneel", "hout", "inkt", "zilver", "porselein", "koper",
             "perkament", "glas", "aardewerk", "brons", "fluweel"]
MATERIAL_TAIL = ["ivoor", "email"]
TYPES = ["prent", "tekening", "foto", "schilderij", "boek", "beeldhouwwerk", "penning", "meubel",
         "tegel", "textiel", "munt"]
TYPE_TAIL = ["sieraad", "glaswerk"]
ARTISTS = ["Jan Luyken", "Reinier Vinkeles", "Rembrandt Harmensz. van Rijn", "Simon Fokke",
           "Romeyn de Hooghe", "Jacob Houbraken", "Hendrick Goltzius", "George Hendrik Breitner",
           "Claes Jansz. Visscher", "Adriaen van Ostade", "Pieter Nolpe", "Jan van de Velde (II)",
           "Crispijn van de Passe (I)", "Willem Witsen", "Johannes Vermeer", "Jan Steen", "Frans Hals",
           "Caspar Luyken"]
ARTIST_TAIL = ["Judith Leyster", "Maria Sibylla Merian"]
ANONYMOUS_SHARE, MATERIAL_MISSING, TYPE_MISSING = 0.18, 0.03, 0.01
CONFUSED = 0.12  # share of images painted, per task, in a random other class's style: no task is perfect

ROLES = {"prent": ["prentmaker", "print maker"], "tekening": ["tekenaar", "draughtsman"],
         "foto": ["fotograaf", "photographer"], "schilderij": ["schilder", "painter"]}
ANONYMOUS_TEXTS = ["anoniem", "Anoniem", "onbekend", "unknown", "Anonymous", ""]
MATERIAL_PREFIXES = ["materiaal: ", "materiaal: ", "materiaal: ", "Materiaal: ", "material: ", "MATERIAAL:"]
OBJECT_PREFIX = {"prent": "RP-P-OB", "tekening": "RP-T", "foto": "RP-F", "schilderij": "SK-A"}
TITLES = ["Portret van een man", "Gezicht op Amsterdam", "Landschap met molen", "Stilleven met bloemen",
          "Zeeslag", "Allegorie op de vrede", "Interieur met vrouw", "Kaart van Holland", "Kerkinterieur"]
DC = "http://purl.org/dc/elements/1.1/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"


def class_sizes(n: int, head: int, exponent: float, tail: tuple[int, ...] = (2, 1)) -> list[int]:
    """Exact class sizes for n labelled images: a power law over the head, then fixed tiny tail sizes."""
    left = max(0, n - sum(tail))
    weights = 1.0 / np.arange(1, head + 1) ** exponent
    share = weights / weights.sum() * left
    sizes = np.floor(share).astype(int)
    sizes[np.argsort(-(share - sizes), kind="stable")[: left - sizes.sum()]] += 1  # largest remainders
    return [int(s) for s in sizes] + list(tail)


def _labels(rng: np.random.Generator, n: int, classes: list[str], exponent: float, missing: float) -> list:
    """n labels (None = no label) with exact long-tailed class sizes, in a seeded random order."""
    n_missing = int(round(n * missing))
    sizes = class_sizes(n - n_missing, len(classes) - 2, exponent)
    labels = [c for c, size in zip(classes, sizes) for _ in range(size)] + [None] * n_missing
    return [labels[i] for i in rng.permutation(len(labels))]


def sample_labels(n: int, seed: int) -> list[tuple[str | None, str | None, str | None]]:
    """(material, type, artist) for each of n records; None where the record will give no label."""
    rng = np.random.default_rng([seed, 0])
    materials = _labels(rng, n, MATERIALS + MATERIAL_TAIL, 1.3, MATERIAL_MISSING)
    types = _labels(rng, n, TYPES + TYPE_TAIL, 1.4, TYPE_MISSING)
    artists = _labels(rng, n, ARTISTS + ARTIST_TAIL, 0.9, ANONYMOUS_SHARE)
    return list(zip(materials, types, artists))


def object_number(rng: np.random.Generator, kind: str | None) -> str:
    prefix = OBJECT_PREFIX.get(kind or "", "BK-NM")
    return f"{prefix}-{rng.integers(1, 99999)}"


def record_xml(rng: np.random.Generator, identifier: str, material, kind, artist) -> str:
    """One Dublin Core record in the styles museum exports use; `rng` picks the style."""
    style = rng.integers(0, 3)  # where the dc namespace is declared, and under which prefix
    p = "dc" if style < 2 else "d"

    def el(name: str, text: str) -> str:
        return f"<{p}:{name}>{escape(text)}</{p}:{name}>"

    parts = [el("identifier", identifier), el("title", TITLES[rng.integers(len(TITLES))])]
    role = ROLES.get(kind or "", ["vervaardiger", "maker"])[rng.integers(2)]
    if artist is not None:
        maker = artist if rng.uniform() < 0.1 else f"{role}: {artist}"  # some records give no role
        parts.append(el("creator", maker))
        if rng.uniform() < 0.2:
            parts.append(el("creator", "uitgever: Frederik de Wit"))  # a second creator: the first counts
    elif rng.uniform() < 0.85:  # an anonymous maker, or (else) no dc:creator at all
        text = ANONYMOUS_TEXTS[rng.integers(len(ANONYMOUS_TEXTS))]
        parts.append(el("creator", f"{role}: {text}" if text and rng.uniform() < 0.5 else text))
    parts.append(el("date", str(rng.integers(1550, 1900))))
    if kind is not None:
        parts.append(el("type", kind))
        if rng.uniform() < 0.15:
            parts.append(el("type", "historieprent"))
    parts.append(el("format", f"hoogte {rng.integers(5, 90)}cm x breedte {rng.integers(5, 90)}cm"))
    if rng.uniform() < 0.2:
        parts.append(el("format", "techniek: ets"))
    if material is not None:
        parts.append(el("format", MATERIAL_PREFIXES[rng.integers(len(MATERIAL_PREFIXES))] + material))
        if rng.uniform() < 0.15:
            parts.append(el("format", "materiaal: inkt"))  # a second material: the first counts
    body = "".join(parts)
    if style == 0:  # dc declared on the record root
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<record xmlns:dc="{DC}"><metadata>'
                f'<oai_dc:dc xmlns:oai_dc="{OAI_DC}">{body}</oai_dc:dc></metadata></record>\n')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<record xmlns="http://www.openarchives.org/OAI/2.0/">'
            f'<metadata><oai_dc:dc xmlns:oai_dc="{OAI_DC}" xmlns:{p}="{DC}">{body}</oai_dc:dc></metadata>'
            f'</record>\n')


def _style_index(rng: np.random.Generator, label, classes: list[str]) -> int:
    """The class whose style the image gets: its own, or (CONFUSED of the time, or no label) another's."""
    if label is None or rng.uniform() < CONFUSED:
        return int(rng.integers(len(classes)))
    return classes.index(label)


def _record(seed: int, i: int, labels: tuple) -> tuple[str, str, bytes]:
    """Record i of the demo: (file stem, Dublin Core XML, JPEG bytes)."""
    material, kind, artist = labels
    rng = np.random.default_rng([seed, 1, i])  # one stream per image: files do not depend on each other
    identifier = object_number(rng, kind)
    xml = record_xml(rng, identifier, material, kind, artist)
    height, width = (int(v) for v in rng.integers(96, 129, size=2))
    pixels = paint(rng, height, width, _style_index(rng, material, MATERIALS + MATERIAL_TAIL),
                   _style_index(rng, kind, TYPES + TYPE_TAIL), _style_index(rng, artist, ARTISTS + ARTIST_TAIL))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return f"{i + 1:07d}_{identifier}", xml, buffer.getvalue()


def fingerprint(images: int, seed: int = 0) -> str:
    """A short hash of what write_demo(images, seed) would write: every label, and the first
    FINGERPRINT_RECORDS records byte for byte (~0.1 s). It names the cached demo's folder, so a change
    to the generator (its class lists, styles, painter, or Pillow's JPEG encoder) writes a new demo
    instead of silently reusing one made by the old code, whether or not VERSION was bumped."""
    digest = hashlib.sha1(f"{VERSION}:{images}:{seed}".encode())
    labels = sample_labels(images, seed)
    digest.update(repr(labels).encode())
    for i in range(min(images, FINGERPRINT_RECORDS)):
        stem, xml, jpeg = _record(seed, i, labels[i])
        digest.update(stem.encode() + xml.encode() + jpeg)
    return digest.hexdigest()[:12]


def write_demo(out: Path, images: int | None = None, seed: int = 0) -> Path:
    """Write a demo collection of `images` records (None: the demo budget's) to `out` (created; an
    earlier demo there is replaced)."""
    out = Path(out)
    images = DEMO_BUDGET.images if images is None else images
    if images < 1 or seed < 0:
        raise DataError(f"--images must be at least 1 and --seed at least 0, got {images} and {seed}")
    if out.exists() and not (out / MARKER).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} exists and is not an artstudy demo; give a new or empty folder")
    writable_folder(out.parent, "the demo collection", hint="choose another --out")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # renamed into place when whole
    work.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache's demo from other users
    try:
        with full_disk_is_an_error(out):
            _write_files(work, images, seed)
    except BaseException:  # a full disk, a Ctrl-C: no half demo left beside the earlier one
        shutil.rmtree(work, ignore_errors=True)
        raise
    _replace(work, out)
    return out


def _write_files(work: Path, images: int, seed: int) -> None:
    (work / "jpg2").mkdir()
    (work / "xml2").mkdir()
    for i, labels in enumerate(sample_labels(images, seed)):
        stem, xml, jpeg = _record(seed, i, labels)
        (work / "xml2" / f"{stem}.xml").write_text(xml, "utf-8")
        (work / "jpg2" / f"{stem}.jpg").write_bytes(jpeg)
    marker = {"generator": "artstudy demo", "version": VERSION, "fingerprint": fingerprint(images, seed),
              "images": images, "seed": seed}
    (work / MARKER).write_text(json.dumps(marker, indent=1) + "\n")


def _replace(new: Path, out: Path) -> None:
    """Move `new` to `out`; an earlier demo there goes (an empty folder too), anything else stays."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "demo")
        os.replace(new, out)
        shutil.rmtree(old)
    else:
        os.replace(new, out)


def ensure_demo(cache_dir: str | Path | None = None, seed: int = 0, images: int | None = None) -> Path:
    """The demo painted with `seed` (`images` records, None: the demo budget's) in the cache folder,
    written on first use; safe when trials race for it."""
    check_not_bootstrapping()  # before the lock, which a re-imported script's worker would wait on forever
    images = DEMO_BUDGET.images if images is None else images
    base = Path(cache_dir or default_cache_dir()) / "demo"
    out = base / f"v{VERSION}-{fingerprint(images, seed)}-seed{seed}-{images}"
    writable_folder(base, "the demo collection")
    with FileLock(str(out) + ".lock"):
        if not (out / MARKER).is_file():
            write_demo(out, images, seed=seed)
    return out
