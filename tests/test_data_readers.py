"""The iMet, folder and csv readers, and reading by name, on collections written here in their real formats."""

import pickle

import pytest
from PIL import Image

from study.data import Collection, DataError, list_collections, read_collection
from study.data.split import assign


def image(path, colour=(10, 200, 30), size=(24, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def by_id(collection: Collection, column: str) -> dict:
    frame = collection.reasons if column.startswith("why:") else collection.table
    return dict(zip(collection.table["image_id"], frame[column.removeprefix("why:")]))


@pytest.fixture
def imet(tmp_path):
    root = tmp_path / "imet"
    root.mkdir()
    (root / "labels.csv").write_text(
        "attribute_id,attribute_name\n"
        "0,country::Netherlands\n1,country::France\n10,culture::Dutch\n"
        "20,medium::Paper\n21,medium::Ink\n22,medium::Oil on canvas\n"
        "30,tags::Men\n31,tags::Women\n40,no category here\n")
    (root / "train.csv").write_text(
        "id,attribute_ids\n"
        "a1,0 10 20 30\n"        # one of each: labelled everywhere but dimension... which labels.csv lacks
        "a2,1 20 21 30 31\n"     # two media, two tags: multi_label for both
        "a3,0 999 22\n"          # 999 is unknown: ignored
        "a4,\n"                  # no attributes at all
        "a5,20 20 40\n"          # the same id twice is one attribute; 40 has no category
        "a6,22\n")               # its image is missing
    for name in ("a1", "a2", "a3", "a4", "a5"):
        image(root / "train" / f"{name}.png")
    return root


def test_imet_one_task_per_category_in_labels_order(imet):
    collection = read_collection("imet", imet)
    assert collection.tasks == ("country", "culture", "medium", "tags")
    assert by_id(collection, "medium") == {"a1": "Paper", "a2": None, "a3": "Oil on canvas", "a4": None,
                                           "a5": "Paper", "a6": "Oil on canvas"}
    assert by_id(collection, "why:medium") == {"a1": None, "a2": "multi_label", "a3": None, "a4": "no_label",
                                               "a5": None, "a6": None}
    assert by_id(collection, "why:tags")["a2"] == "multi_label"
    assert by_id(collection, "country") == {"a1": "Netherlands", "a2": "France", "a3": "Netherlands",
                                            "a4": None, "a5": None, "a6": None}
    assert by_id(collection, "path")["a1"] == str(imet.resolve() / "train" / "a1.png")


def test_imet_drop_counts(imet, tmp_path):
    data = assign(read_collection("imet", imet), "medium", cache_dir=tmp_path / "cache")
    assert data.dropped == {"bad_metadata": 0, "unreadable": 1, "no_label": 1, "multi_label": 1,
                            "rare_class": 3, "pruned": 0}  # a6 has no image; Paper (2) and Oil (1) are too rare


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "folder"
    for i in range(3):
        image(root / "portrait" / f"p{i}.jpg", (200, 10 * i, 10))
        image(root / "landscape" / f"l{i}.png", (10, 200, 10 * i))
    image(root / "landscape" / "more" / "deep.jpg")  # nested: still its class folder's
    (root / "portrait" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "portrait" / "Thumbs.db").write_bytes(b"\x00")
    (root / "portrait" / ".DS_Store").write_bytes(b"\x00")
    (root / "portrait" / "notes.txt").write_text("hello")
    image(root / ".hidden" / "x.jpg")
    image(root / "loose.jpg")  # directly under the root: no class
    return root


def test_folder_reads_image_files_of_class_folders(folder):
    collection = read_collection("folder", folder)
    assert collection.tasks == ("label",)
    assert sorted(by_id(collection, "label").items()) == [
        ("landscape/l0.png", "landscape"), ("landscape/l1.png", "landscape"), ("landscape/l2.png", "landscape"),
        ("landscape/more/deep.jpg", "landscape"), ("portrait/broken.jpg", "portrait"),
        ("portrait/p0.jpg", "portrait"), ("portrait/p1.jpg", "portrait"), ("portrait/p2.jpg", "portrait")]


def test_folder_counts_undecodable_images_as_unreadable(folder, tmp_path):
    data = assign(read_collection("folder", folder), "label", cache_dir=tmp_path / "cache")
    assert data.dropped["unreadable"] == 1
    assert "portrait/broken.jpg" not in set(data.frame["image_id"])
    assert data.counts() == {"images": 7, "classes": 2, "train": 3, "val": 2, "test": 2}


@pytest.fixture
def csv_root(tmp_path):
    root = tmp_path / "csvcol"
    for i in range(5):
        image(root / "img" / f"{i}.png")
    (root / "labels.csv").write_text(
        "path,style, century\n"
        "img/0.png,Baroque,17\n"
        "img/1.png, baroque ,NA\n"     # stripped; case kept; NA is a label as written
        "img/2.png,,18\n"              # no style label
        "img\\3.png,Baroque,\n"        # backslashes become slashes
        "img/4.png,Rococo,18\n"
        "img/4.png,Rococo,19\n")       # a path listed twice: both rows are bad_metadata
    return root


def test_csv_tasks_are_the_other_columns(csv_root):
    collection = read_collection("csv", csv_root)
    assert collection.tasks == ("style", "century")
    assert collection.table["style"].tolist() == ["Baroque", "baroque", None, "Baroque", None, None]
    assert collection.reasons["style"].tolist() == [None, None, "no_label", None, "bad_metadata", "bad_metadata"]
    assert collection.table["century"].tolist() == ["17", "NA", "18", None, None, None]
    assert collection.reasons["century"].tolist() == [None, None, None, "no_label", "bad_metadata", "bad_metadata"]
    assert collection.table["image_id"].tolist()[3] == "img/3.png"
    assert collection.table["path"].tolist()[3] == str(csv_root.resolve() / "img" / "3.png")


def test_csv_without_a_path_column_is_refused(tmp_path):
    (tmp_path / "labels.csv").write_text("file,style\na.png,x\n")
    with pytest.raises(DataError, match="needs a path column"):
        read_collection("csv", tmp_path)


def test_collections_by_name_and_their_errors(tmp_path, folder):
    assert list_collections() == ["rijksmuseum", "imet", "folder", "csv", "demo"]
    with pytest.raises(DataError, match="unknown collection 'wikiart'; choose one of rijksmuseum, imet"):
        read_collection("wikiart", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_collection("folder", tmp_path / "nowhere")
    with pytest.raises(DataError, match="needs a root folder"):
        read_collection("imet", None)
    with pytest.raises(DataError, match="is not an imet collection"):
        read_collection("imet", folder)
    with pytest.raises(DataError, match="is not a csv collection"):
        read_collection("csv", folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is not a folder collection"):
        read_collection("folder", tmp_path / "empty")


def test_unknown_task_names_the_known_ones(folder, tmp_path):
    with pytest.raises(DataError, match="folder has no task 'material'; its tasks: label"):
        assign(read_collection("folder", folder), "material", cache_dir=tmp_path)


def test_collection_pickles_and_keys_by_kind_and_root(folder, demo_root):
    collection = read_collection("folder", folder)
    copy = pickle.loads(pickle.dumps(collection))
    assert copy.key == collection.key and copy.table.equals(collection.table)
    assert read_collection("folder", folder).key == collection.key  # stable
    assert read_collection("demo", demo_root).key != read_collection("rijksmuseum", demo_root).key
