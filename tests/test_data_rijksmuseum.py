"""The Rijksmuseum reader on records written here in the real layout, with the cases museum exports have."""

import io

import pytest
from PIL import Image

from study.data import DataError, prepare_task, read_collection
from study.data.dublin_core import parse_record

DC = "http://purl.org/dc/elements/1.1/"


def jpeg(colour=(200, 30, 30), size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def record(*elements: str, dc_on: str = "root") -> str:
    """A record with the dc namespace declared on the root, on the oai_dc element, or nowhere (elements bring it)."""
    body = "".join(elements)
    root_ns = f' xmlns:dc="{DC}"' if dc_on == "root" else ""
    inner_ns = f' xmlns:dc="{DC}"' if dc_on == "inner" else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<record{root_ns}><metadata>'
            f'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"{inner_ns}>{body}'
            f"</oai_dc:dc></metadata></record>")


def labels(xml: str) -> list:
    return parse_record(xml.encode())


def test_first_material_format_with_dutch_or_english_prefix_any_case():
    xml = record("<dc:format>hoogte 12cm x breedte 9cm</dc:format>", "<dc:format>techniek: ets</dc:format>",
                 "<dc:format>  Materiaal:  papier </dc:format>", "<dc:format>materiaal: inkt</dc:format>")
    assert labels(xml)[0] == ("papier", None)
    assert labels(record("<dc:format>MATERIAL:canvas</dc:format>"))[0] == ("canvas", None)
    assert labels(record("<dc:format>material: olieverf: op doek</dc:format>"))[0] == ("olieverf: op doek", None)
    assert labels(record("<dc:format>hoogte 3cm</dc:format>"))[0] == (None, "no_label")
    assert labels(record("<dc:format>materiaal:</dc:format>"))[0] == (None, "no_label")


def test_first_type_and_first_creator_after_its_role():
    xml = record("<dc:creator>prentmaker: Jan Luyken</dc:creator>", "<dc:creator>uitgever: Frederik de Wit</dc:creator>",
                 "<dc:type> prent </dc:type>", "<dc:type>historieprent</dc:type>")
    assert labels(xml)[1:] == [("prent", None), ("Jan Luyken", None)]
    assert labels(record("<dc:creator>Rembrandt Harmensz. van Rijn</dc:creator>"))[2] == ("Rembrandt Harmensz. van Rijn", None)
    # Only ": " separates a role; the text after the first one is the label, whatever it holds.
    assert labels(record("<dc:creator>schilder: Meester van: Alkmaar</dc:creator>"))[2] == ("Meester van: Alkmaar", None)
    assert labels(record("<dc:creator>Hals:Frans</dc:creator>"))[2] == ("Hals:Frans", None)


@pytest.mark.parametrize("text", ["anoniem", "prentmaker: Anoniem", "ONBEKEND", "schilder: unknown",
                                  "Anonymous", "", "   ", "tekenaar: "])
def test_anonymous_or_empty_creators_give_no_label(text):
    assert labels(record(f"<dc:creator>{text}</dc:creator>"))[2] == (None, "no_label")


def test_anonymous_means_exactly_those_words():
    assert labels(record("<dc:creator>anoniem (Noord-Nederland)</dc:creator>"))[2] == ("anoniem (Noord-Nederland)", None)


def test_elements_match_by_local_name_whatever_the_namespace():
    on_inner = record("<dc:type>foto</dc:type>", dc_on="inner")
    own_default = record(f'<type xmlns="{DC}">tekening</type>', f'<creator xmlns="{DC}">Jan Steen</creator>', dc_on="none")
    other_prefix = record(f'<d:format xmlns:d="{DC}">materiaal: doek</d:format>', dc_on="none")
    none = '<record><type>schilderij</type><format>material: paneel</format></record>'
    assert labels(on_inner)[1] == ("foto", None)
    assert labels(own_default)[1:] == [("tekening", None), ("Jan Steen", None)]
    assert labels(other_prefix)[0] == ("doek", None)
    assert labels(none)[:2] == [("paneel", None), ("schilderij", None)]


def test_labels_keep_case_accents_and_escaped_characters():
    xml = record("<dc:type>Tekening</dc:type>", "<dc:creator>maker: Gebr. Douwes &amp; Zn, Caf&#233;</dc:creator>")
    assert labels(xml)[1:] == [("Tekening", None), ("Gebr. Douwes & Zn, Café", None)]


@pytest.mark.parametrize("data", [b"", b"<record><dc:type>prent</record>", b"not xml at all",
                                  b'<?xml version="1.0"?><record><type>prent</type>'])
def test_malformed_xml_is_bad_metadata_for_every_task(data):
    assert parse_record(data) == [(None, "bad_metadata")] * 3


def test_external_entity_never_reaches_a_label(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    xml = (f'<?xml version="1.0"?>\n<!DOCTYPE record [<!ENTITY xxe SYSTEM "file://{secret}">'
           f'<!ENTITY inner "internal text">]>\n'
           f'<record xmlns:dc="{DC}"><dc:title>&xxe;</dc:title><dc:creator>schilder: &xxe;</dc:creator>'
           f"<dc:type>&inner;</dc:type><dc:format>&xxe;</dc:format><dc:format>materiaal: doek</dc:format></record>")
    result = labels(xml)
    assert "SECRET" not in repr(result) and "internal text" not in repr(result)
    # Text holding an unresolved reference is not fully known: counted as bad_metadata, never guessed.
    # That includes a dc:format before the material one: it might have been the material.
    assert result == [(None, "bad_metadata")] * 3
    # An entity in an element no rule reads (the title) changes nothing.
    assert labels(xml.replace("<dc:creator>schilder: &xxe;</dc:creator>", "<dc:creator>Jan Steen</dc:creator>"))[2] == (
        "Jan Steen", None)


def test_entity_expansion_bomb_is_not_expanded():
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    xml = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{lol}]><r><type>&l9;</type></r>'
    assert labels(xml)[1] == (None, "bad_metadata")


@pytest.fixture
def museum(tmp_path):
    """A small Rijksmuseum folder with every per-file fault a real copy can have."""
    root = tmp_path / "rijks"
    (root / "xml2").mkdir(parents=True)
    (root / "jpg2").mkdir()
    good = record("<dc:creator>schilder: Jan Steen</dc:creator>", "<dc:type>schilderij</dc:type>",
                  "<dc:format>materiaal: doek</dc:format>")

    def add(stem, xml, image=None):
        (root / "xml2" / f"{stem}.xml").write_text(xml)
        if image is not None:
            (root / "jpg2" / f"{stem}.jpg").write_bytes(image)

    for i in range(4):
        add(f"000000{i}_SK-A-{i}", good, jpeg((40 * i, 80, 120)))
    add("0000010_SK-A-10", "<record><dc:type>prent", jpeg())  # malformed record, fine image
    add("0000011_SK-A-11", good)  # labelled, no image
    add("0000012_SK-A-12", good, b"")  # empty image
    add("0000013_SK-A-13", good, b"this is not a picture")  # not an image
    add("0000014_SK-A-14", good, jpeg(size=(300, 200))[:400])  # truncated JPEG
    add("0000015_SK-A-15", record("<dc:title>no labels here</dc:title>"))  # no labels and no image: no_label
    (root / "jpg2" / "0000099_orphan.jpg").write_bytes(jpeg())  # image without a record: ignored
    (root / "jpg2" / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / "xml2" / ".DS_Store").write_bytes(b"\x00")
    (root / "xml2" / "notes.txt").write_text("not a record")
    return root


def test_collection_table_and_reasons(museum):
    collection = read_collection("rijksmuseum", museum)
    table = collection.table.set_index("image_id")
    assert collection.tasks == ("material", "type", "artist")
    assert len(collection) == 10  # records only: no orphan image, no Thumbs.db, no notes.txt
    assert table.loc["0000000_SK-A-0", ["material", "type", "artist"]].tolist() == ["doek", "schilderij", "Jan Steen"]
    assert table.loc["0000000_SK-A-0", "path"] == str(museum.resolve() / "jpg2" / "0000000_SK-A-0.jpg")
    reasons = collection.reasons.set_index(collection.table["image_id"])
    assert reasons.loc["0000010_SK-A-10"].tolist() == ["bad_metadata"] * 3
    assert reasons.loc["0000015_SK-A-15"].tolist() == ["no_label"] * 3
    assert table.loc["0000010_SK-A-10", ["material", "type", "artist"]].isna().all()


def test_drop_counters_on_every_fault(museum, tmp_path):
    from study.data.split import assign

    data = assign(read_collection("rijksmuseum", museum), "artist", cache_dir=tmp_path / "cache")
    # missing, empty, not an image, truncated: unreadable; the unlabelled record without an image is no_label.
    assert data.dropped == {"bad_metadata": 1, "unreadable": 4, "no_label": 1, "multi_label": 0,
                            "rare_class": 0, "pruned": 0}
    assert data.counts()["images"] == 4
    assert sum(data.dropped.values()) + len(data.frame) == 10


def test_a_single_class_is_refused_with_a_message(museum, tmp_path):
    with pytest.raises(DataError, match="only one class is left"):
        prepare_task(read_collection("rijksmuseum", museum), "artist", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("layout", ["nothing", "only_jpg2", "empty_xml2", "imet_like"])
def test_a_root_that_is_not_a_rijksmuseum_collection(tmp_path, layout):
    if layout == "only_jpg2":
        (tmp_path / "jpg2").mkdir()
    if layout == "empty_xml2":
        (tmp_path / "jpg2").mkdir()
        (tmp_path / "xml2").mkdir()
        (tmp_path / "xml2" / "Thumbs.db").write_bytes(b"")
    if layout == "imet_like":
        (tmp_path / "train.csv").write_text("id,attribute_ids\n")
    with pytest.raises(DataError, match="is not a rijksmuseum collection"):
        read_collection("rijksmuseum", tmp_path)
