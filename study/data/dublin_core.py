"""Dublin Core records -> material, type and artist labels: the Rijksmuseum labelling rules of docs/contracts.md.

Elements are matched by local name whatever their namespace:
- material: the first dc:format whose text starts with `materiaal:` or `material:` (any case);
  the label is what follows the first colon.
- type: the first dc:type.
- artist: the first dc:creator, after its role (`prentmaker: Jan Luyken` -> `Jan Luyken`);
  empty, anoniem, onbekend, unknown or anonymous (any case) give no label.
A record that does not parse is `bad_metadata` for every task. XML is parsed with entities left
unresolved and no network, so a record declaring `<!ENTITY x SYSTEM "file:///etc/passwd">` cannot
pull that file into a label; a label element holding such a reference is `bad_metadata` for its
task, since its text is not fully known.

lxml only (no pandas), so the worker processes that parse 112k records start quickly.
"""

from __future__ import annotations

import os

from lxml import etree

TASKS = ["material", "type", "artist"]
MATERIAL_PREFIXES = ("materiaal:", "material:")
ANONYMOUS = {"", "anoniem", "onbekend", "unknown", "anonymous"}

# One label or reason per task. _UNKNOWN marks an element whose text holds an unresolved entity.
_UNKNOWN = object()


# One parser per process (lxml parsers are not shared between threads; each worker is a process).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
# The label elements by local name in any namespace ("{*}"), in document order; lxml filters in C.
_FIELDS = ("{*}format", "{*}type", "{*}creator")


def _text(element: etree._Element):
    """The element's whole text, unstripped, or _UNKNOWN when part of it is an unresolved entity reference."""
    if len(element) == 0:  # no child nodes at all: the usual case
        return element.text or ""
    if any(isinstance(node, etree._Entity) for node in element.iter()):
        return _UNKNOWN
    return "".join(element.itertext(tag=etree.Element))


def parse_record(data: bytes) -> list[tuple[str | None, str | None]]:
    """(label, reason) for material, type and artist from one record's bytes."""
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return [(None, "bad_metadata")] * 3
    material = kind = creator = None
    for element in root.iter(*_FIELDS):
        name = element.tag.rpartition("}")[2]  # the local name, whatever the namespace
        if name == "format" and material is None:
            text = _text(element)
            if text is _UNKNOWN or text.lstrip().lower().startswith(MATERIAL_PREFIXES):
                material = text
        elif name == "type" and kind is None:
            kind = _text(element)
        elif name == "creator" and creator is None:
            creator = _text(element)
    if isinstance(material, str):
        material = material.split(":", 1)[1]
    if isinstance(creator, str):
        # The role is tested on the text as written: "tekenaar: " is a role and an empty name.
        creator = creator.split(": ", 1)[1] if ": " in creator else creator
        creator = None if creator.strip().lower() in ANONYMOUS else creator
    return [_label(value) for value in (material, kind, creator)]


def _label(value) -> tuple[str | None, str | None]:
    if value is _UNKNOWN:
        return None, "bad_metadata"
    value = value.strip() if value else ""
    return (value, None) if value else (None, "no_label")


def _read(path: str) -> bytes:
    # Raw os calls: Python's buffered open() costs more than parsing a 1 kB record does.
    handle = os.open(path, os.O_RDONLY)
    try:
        parts = []
        while part := os.read(handle, 1 << 16):
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(handle)


def parse_files(paths: list[str]) -> list[list[tuple[str | None, str | None]]]:
    """parse_record for each file; a file that cannot be read is bad_metadata."""
    out = []
    for path in paths:
        try:
            data = _read(path)
        except OSError:
            out.append([(None, "bad_metadata")] * 3)
            continue
        out.append(parse_record(data))
    return out
