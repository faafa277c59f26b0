"""Hostile input: a corpus written here, under tmp, fed to the real readers, caches and command lines.

XML with external entities and entity-expansion bombs, a very large record, an image decompression
bomb, truncated, zero-byte and mislabelled images, symbolic links out of the collection, file names
that are not UTF-8, labels that a spreadsheet would run, a labels.csv naming ../../etc/passwd.
Each must end as a count (summary's drop counters) or one `error:` line: never a traceback, a hang,
a wrong label, or a file opened outside the collection's root.
"""

import csv
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from study.data import load_images, prepare_task, read_collection, summarize
from study.data.collection import inside_root
from study.data.dublin_core import parse_record
from study.spreadsheet import FORMULA_STARTS, escape_cell

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the corpus

def jpeg(colour, size=24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bomb(side: int = 30000) -> bytes:
    """A 1-bit PNG of side x side black pixels: ~100 kB on disk, side**2 pixels once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    squeeze, row = zlib.compressobj(9), b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def good_images(folder: Path, n: int, colour) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{i}.jpg").write_bytes(jpeg(tuple(min(255, c + 3 * i) for c in colour)))


@pytest.fixture
def outside(tmp_path):
    """A folder beside the collection, with a valid image and a secret: nothing may read them."""
    folder = tmp_path / "outside"
    good_images(folder, 4, (0, 0, 250))
    (folder / "secret.txt").write_text("material: stolen\n")
    return folder


class Opened:
    """Every file this process opens (Python's `open` audit event: open(), os.open, PIL, lxml's Python reads)."""

    paths: list[str] = []
    active = False

    @classmethod
    def hook(cls, event, args):
        if cls.active and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            cls.paths.append(os.fsdecode(args[0]))


sys.addaudithook(Opened.hook)


@pytest.fixture
def opened():
    Opened.paths, Opened.active = [], True
    yield Opened.paths
    Opened.active = False


def never_under(paths: list[str], folder: Path) -> None:
    inside = [p for p in paths if os.path.realpath(p).startswith(str(folder.resolve()) + os.sep)]
    assert not inside, f"opened outside the collection: {inside}"


# ---------------------------------------------------------------- XML

DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'


def test_external_entities_are_not_resolved_and_bombs_do_not_expand(tmp_path, outside, opened):
    secret = outside / "secret.txt"
    external = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
                f'<r {DC}><dc:type>&x;</dc:type><dc:format>materiaal: papier</dc:format></r>')
    network = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'
               f'<r {DC}><dc:creator>&x;</dc:creator><dc:type>prent</dc:type></r>')
    laughs = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 12))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{laughs}]>'
            f'<r {DC}><dc:type>&l11;</dc:type><dc:creator>maker: Jan</dc:creator></r>')
    quadratic = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{"x" * 50000}">]><r {DC}><dc:type>{"&a;" * 5000}</dc:type></r>'
    # external: type unknown (bad_metadata), material read; the secret never becomes a label
    assert parse_record(external.encode()) == [("papier", None), (None, "bad_metadata"), (None, "no_label")]
    assert parse_record(network.encode()) == [(None, "no_label"), ("prent", None), (None, "bad_metadata")]
    # libxml2 refuses the amplification outright: the whole record is bad_metadata, nothing expanded
    assert parse_record(bomb.encode()) == [(None, "bad_metadata")] * 3
    assert parse_record(quadratic.encode())[1] == (None, "bad_metadata")
    never_under(opened, outside)


def test_a_very_large_record_is_one_bad_or_labelled_record(tmp_path):
    # 30 MB of text in one element: past libxml2's 10 MB node limit (huge_tree stays off): bad_metadata.
    huge = f'<r {DC}><dc:type>prent</dc:type><dc:description>{"a" * 30_000_000}</dc:description></r>'
    assert parse_record(huge.encode()) == [(None, "bad_metadata")] * 3
    # 200,000 elements: parses, and the first matching element still gives the label
    many = f'<r {DC}><dc:format>materiaal: doek</dc:format>{"<dc:format>x</dc:format>" * 200_000}</r>'
    assert parse_record(many.encode())[0] == ("doek", None)


# ---------------------------------------------------------------- images, links, names: the folder layout

@pytest.fixture
def hostile_folder(tmp_path, outside):
    root = tmp_path / "collection"
    good_images(root / "cats", 6, (200, 10, 10))
    good_images(root / "dogs", 6, (10, 200, 10))
    good_images(root / "=HYPERLINK(1)", 6, (10, 10, 200))  # a class name a spreadsheet would run
    bad = root / "cats"
    (bad / "bomb.png").write_bytes(png_bomb())
    (bad / "zero.jpg").write_bytes(b"")
    (bad / "truncated.jpg").write_bytes(jpeg((1, 2, 3), size=64)[:300])
    (bad / "text.jpg").write_text("this is not a JPEG\n")
    png = io.BytesIO()
    Image.new("RGB", (24, 24), (200, 40, 40)).save(png, "PNG")
    (bad / "really_a_png.jpg").write_bytes(png.getvalue())  # decodes: an image is an image, whatever its name
    (bad / "link.jpg").symlink_to(outside / "0.jpg")  # a file linking out of the root
    (root / "linked_class").symlink_to(outside, target_is_directory=True)  # a class folder linking out
    (bad / "inner").symlink_to(outside, target_is_directory=True)  # a subfolder linking out: not walked
    os.symlink(bad / "0.jpg", bad / "alias_inside.jpg")  # a link that stays inside: fine
    with open(os.path.join(os.fsencode(bad), b"caf\xe9.jpg"), "wb") as f:  # Latin-1 bytes, not UTF-8
        f.write(jpeg((200, 10, 10)))
    return root


def test_folder_corpus_is_counted_and_nothing_outside_is_read(hostile_folder, outside, tmp_path, opened):
    collection = read_collection("folder", hostile_folder)
    result = summarize(collection, cache_dir=tmp_path / "cache")
    dropped = result["tasks"]["label"]["dropped"]
    # links out of the root (a file, a class folder) and the non-UTF-8 name
    assert dropped["bad_metadata"] == 3
    assert dropped["unreadable"] == 4  # the bomb, the zero-byte, the truncated and the text file
    task = prepare_task(collection, "label", cache_dir=tmp_path / "cache")
    assert sorted(task.classes) == ["=HYPERLINK(1)", "cats", "dogs"]
    assert len(task.frame) == 6 + 6 + 6 + 2  # the good ones, the PNG named .jpg and the inside alias
    assert not any("inner" in i or "link" in i for i in task.frame["image_id"])
    pixels = load_images(collection, task.frame, size=16, cache_dir=tmp_path / "cache")
    assert pixels.shape == (len(task.frame), 16, 16, 3)
    never_under(opened, outside)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's bomb limit, as shipped: nothing raised it


def test_summary_command_reports_hostile_names_in_one_table(hostile_folder, tmp_path):
    env = {**os.environ, "ARTSTUDY_CACHE": str(tmp_path / "cache")}
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "study.data", "summary", "--collection", "folder",
                               "--root", str(hostile_folder), *extra],
                              capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert json.loads(done.stdout)["tasks"]["label"]["dropped"]["bad_metadata"] == 3


# ---------------------------------------------------------------- labels.csv and records pointing out

def test_labels_csv_paths_outside_the_root_are_refused(tmp_path, outside, opened):
    root = tmp_path / "csvcoll"
    good_images(root / "img", 8, (90, 90, 90))
    rows = [("path", "style")] + [(f"img/{i}.jpg", "a" if i % 2 else "b") for i in range(8)]
    rows += [("../../etc/passwd", "a"), ("/etc/passwd", "b"), (f"../outside/0.jpg", "a"),
             (str(outside / "1.jpg"), "b"), ("img/../../outside/2.jpg", "a")]
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    collection = read_collection("csv", root)
    result = summarize(collection, cache_dir=tmp_path / "cache")
    assert result["tasks"]["style"]["dropped"]["bad_metadata"] == 5
    assert result["tasks"]["style"]["images"] == 8
    never_under(opened, outside)
    assert "/etc/passwd" not in opened


def test_rijksmuseum_links_out_of_the_root_are_not_read(demo_root, tmp_path, outside, opened):
    root = tmp_path / "rijks"
    (root / "xml2").mkdir(parents=True)
    (root / "jpg2").mkdir()
    records = sorted((demo_root / "xml2").iterdir())[:40]
    for record in records:
        (root / "xml2" / record.name).write_bytes(record.read_bytes())
        image = demo_root / "jpg2" / (record.stem + ".jpg")
        (root / "jpg2" / image.name).write_bytes(image.read_bytes())
    (root / "xml2" / "9999999_X.xml").symlink_to(outside / "secret.txt")  # a record linking out
    (root / "xml2" / "9999998_Y.xml").write_text(f'<r {DC}><dc:type>prent</dc:type></r>')
    (root / "jpg2" / "9999998_Y.jpg").symlink_to(outside / "0.jpg")  # its image linking out
    collection = read_collection("rijksmuseum", root)
    reasons = collection.reasons.set_index(collection.table["image_id"])
    assert reasons.loc["9999999_X"].tolist() == ["bad_metadata"] * 3
    assert reasons.loc["9999998_Y", "type"] == "bad_metadata"
    summarize(collection, cache_dir=tmp_path / "cache")
    never_under(opened, outside)


# ---------------------------------------------------------------- properties

segment = st.sampled_from(["a", "b", "..", ".", "c d", "é"])


@settings(max_examples=200, deadline=None)
@given(st.lists(segment, min_size=1, max_size=6), st.booleans())
def test_inside_root_agrees_with_path_arithmetic(tmp_path_factory, parts, absolute):
    root = tmp_path_factory.getbasetemp() / "prop-root"
    relative = os.path.join(*parts)
    path = os.path.join("/", relative) if absolute else os.path.join(root, relative)
    expected = os.path.normpath(path).startswith(str(root) + os.sep)  # no links here: plain arithmetic
    assert inside_root(root, [path]) == [expected]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none()))
def test_escaped_cells_never_start_a_formula_and_keep_their_text(value):
    escaped = escape_cell(value)
    if isinstance(value, str):
        assert not escaped.startswith(FORMULA_STARTS)
        assert escaped == value or escaped == "'" + value
    else:
        assert escaped is value  # numbers stay numbers (a negative number is not a formula)


def test_every_csv_of_a_report_escapes_formula_text(tmp_path):
    from analysis.report import write_report
    from fake_experiment import FakeTrial, _study, epochs_from, write_experiment

    evil = {"data_root": "=HYPERLINK(\"http://example.invalid\",\"x\")", "task": "@SUM(1+1)*cmd|' /C calc'!A0"}
    trials = []
    for mode in ("off_the_shelf", "fine_tune"):
        config = {"collection": "folder", "model": "tiny_cnn", "mode": mode, "seed": 0, **evil}
        epochs = epochs_from([1.0, 0.9], [0.4, 0.5])
        final = {"best_epoch": 2, "test_acc": 0.5, "test_bacc": 0.5, "test_f1": 0.4, "test_top5": 1.0,
                 "num_classes": 3, "n_train": 10, "n_val": 3, "n_test": 3, "weights_used": "+none",
                 "val_loss": 0.9, "val_acc": 0.5, "resolved_config": config}
        trials.append(FakeTrial(config, epochs, final))
    folder = write_experiment(tmp_path / "exp", trials, _study("smoke", "?", ["mode"], [], ["task", "data_root"]))
    out = write_report(folder)
    files = sorted(out.rglob("*.csv"))
    assert {"trials.csv", "history.csv"} <= {f.name for f in files}
    seen = 0
    for file in files:
        for row in csv.reader(file.read_text(encoding="utf-8").splitlines()):
            for cell in row:
                seen += cell.startswith("'=") or cell.startswith("'@") or cell.startswith("'+")
                if cell.startswith(FORMULA_STARTS):
                    float(cell)  # only a number may begin with - or +
    assert seen >= 3  # the evil values are there, escaped
