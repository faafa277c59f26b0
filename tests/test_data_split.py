"""Pruning, the per-class sha1 split and the drop counters, exactly as docs/contracts.md states them."""

import hashlib

import pytest
from PIL import Image

from study.config import ConfigError
from study.data import DataError, prepare_task, read_collection, split_sizes
from study.data.split import assign


def csv_collection(root, labels: dict, broken=(), missing=()):
    """A csv collection: image name -> label (None: empty cell); `broken` files hold no image; `missing` are absent."""
    (root / "img").mkdir(parents=True)
    lines = ["path,label"]
    for i, (name, label) in enumerate(labels.items()):
        path = root / "img" / f"{name}.png"
        if name in broken:
            path.write_bytes(b"garbage")
        elif name not in missing:
            Image.new("RGB", (4, 4), (i % 256, 0, 0)).save(path)
        lines.append(f"img/{name}.png,{label or ''}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return read_collection("csv", root)


def sizes(counts: dict) -> dict:
    return {f"{label}{i:03d}": label for label, n in counts.items() for i in range(n)}


@pytest.mark.parametrize("n, fractions, expected", [
    (1, (0.8, 0.1, 0.1), (-1, 1, 1)),     # dropped: a class must occur in every split
    (2, (0.8, 0.1, 0.1), (0, 1, 1)),      # dropped
    (3, (0.8, 0.1, 0.1), (1, 1, 1)),
    (10, (0.8, 0.1, 0.1), (8, 1, 1)),
    (15, (0.8, 0.1, 0.1), (11, 2, 2)),    # 15 * 0.1 + 0.5 = 2.0000000000000004 -> 2
    (25, (0.8, 0.1, 0.1), (19, 3, 3)),    # 2.5 + 0.5 = 3
    (24, (0.8, 0.1, 0.1), (20, 2, 2)),    # 2.4 + 0.5 = 2.9 -> 2
    (6, (0.5, 0.25, 0.25), (2, 2, 2)),    # 1.5 + 0.5 = 2
    (7, (0.7, 0.3, 0.0), (5, 2, 0)),      # 2.1 + 0.5 -> 2; a zero fraction gives 0, not max(1, ...)
])
def test_split_sizes_by_hand(n, fractions, expected):
    assert split_sizes(n, fractions) == expected


def test_each_class_is_split_in_sha1_order(tmp_path):
    labels = {**sizes({"a": 10}), **sizes({"b": 3})}
    data = prepare_task(csv_collection(tmp_path / "c", labels), "label", cache_dir=tmp_path / "cache", split_seed=7)
    got = dict(zip(data.frame["image_id"], data.frame["split"]))
    for label, n_train, n_val in (("a", 8, 1), ("b", 1, 1)):
        ids = [f"img/{name}.png" for name, lab in labels.items() if lab == label]
        ordered = sorted(ids, key=lambda i: hashlib.sha1(f"7:{i}".encode()).hexdigest())
        expected = ["train"] * n_train + ["val"] * n_val + ["test"] * (len(ids) - n_train - n_val)
        assert [got[i] for i in ordered] == expected


@pytest.fixture(scope="module")
def long_tail(tmp_path_factory):
    root = tmp_path_factory.mktemp("tail")
    return csv_collection(root / "c", sizes({"k": 30, "l": 12, "m": 7, "n": 7, "o": 5, "p": 3, "q": 2, "r": 1})), root


def test_split_is_deterministic_and_changes_with_split_seed(long_tail):
    collection, root = long_tail
    first = prepare_task(collection, "label", cache_dir=root / "cache").frame
    again = prepare_task(collection, "label", cache_dir=root / "cache").frame
    other = prepare_task(collection, "label", cache_dir=root / "cache", split_seed=1).frame
    assert first.equals(again)
    assert (first["split"] != other["split"]).any()
    assert first["image_id"].tolist() == other["image_id"].tolist()  # same images, placed differently


@pytest.mark.parametrize("min_per_class, top_k", [(4, 0), (6, 0), (10, 0), (0, 2), (0, 3), (0, 5), (6, 3)])
def test_an_images_split_never_changes_with_the_cutoff(long_tail, min_per_class, top_k):
    collection, root = long_tail
    base = prepare_task(collection, "label", cache_dir=root / "cache")
    cut = prepare_task(collection, "label", cache_dir=root / "cache", min_per_class=min_per_class, top_k=top_k)
    where = dict(zip(base.frame["image_id"], base.frame["split"]))
    assert all(where[i] == s for i, s in zip(cut.frame["image_id"], cut.frame["split"]))
    assert set(cut.rows("test")["image_id"]) <= set(base.rows("test")["image_id"])
    assert len(cut.frame) < len(base.frame)


def test_every_kept_class_is_in_every_split(long_tail):
    collection, root = long_tail
    data = prepare_task(collection, "label", cache_dir=root / "cache")
    assert data.classes == ["k", "l", "m", "n", "o", "p"]  # q (2) and r (1) cannot be split
    for split in ("train", "val", "test"):
        assert sorted(data.rows(split)["label"].unique()) == data.classes
    assert data.dropped["rare_class"] == 3


def test_top_k_ties_are_broken_by_label_and_min_per_class_comes_first(long_tail):
    collection, root = long_tail
    assert prepare_task(collection, "label", cache_dir=root / "cache", top_k=3).classes == ["k", "l", "m"]  # m, n tie
    data = prepare_task(collection, "label", cache_dir=root / "cache", min_per_class=6, top_k=5)
    assert data.classes == ["k", "l", "m", "n"]
    assert data.dropped["pruned"] == 5 + 3 + 2 + 1


def test_top_k_ties_go_to_the_label_first_in_order_not_the_record_first_seen(tmp_path):
    labels = {**sizes({"zeta": 4}), **sizes({"alpha": 4}), **sizes({"mid": 6})}
    data = prepare_task(csv_collection(tmp_path / "c", labels), "label", cache_dir=tmp_path / "cache", top_k=2)
    assert data.classes == ["alpha", "mid"]


def test_labels_are_compared_exactly(tmp_path):
    labels = {**sizes({"papier": 3}), **{f"P{i}": "Papier" for i in range(3)}, **{f"e{i}": "papiér" for i in range(3)}}
    data = prepare_task(csv_collection(tmp_path / "c", labels), "label", cache_dir=tmp_path / "cache")
    assert data.classes == ["Papier", "papier", "papiér"]


def test_drop_counters_take_the_first_reason_that_applies(tmp_path):
    labels = {**sizes({"a": 10, "b": 4, "c": 5}), "nolabel": None, "dup": "a"}
    csv_collection(tmp_path / "c", labels, broken={"b000"}, missing={"b001", "nolabel", "dup"})
    lines = (tmp_path / "c" / "labels.csv").read_text() + "img/dup.png,a\n"  # the same path twice: bad_metadata
    (tmp_path / "c" / "labels.csv").write_text(lines)
    collection = read_collection("csv", tmp_path / "c")
    records = len(collection)
    cases = {
        # b: two unreadable, two left, which is too few for three splits
        (0, 0): {"bad_metadata": 2, "unreadable": 2, "no_label": 1, "multi_label": 0, "rare_class": 2, "pruned": 0},
        # b's two readable images are pruned before the rare-class rule could see them
        (3, 0): {"bad_metadata": 2, "unreadable": 2, "no_label": 1, "multi_label": 0, "rare_class": 0, "pruned": 2},
        (0, 1): {"bad_metadata": 2, "unreadable": 2, "no_label": 1, "multi_label": 0, "rare_class": 0, "pruned": 7},
    }
    for (min_per_class, top_k), expected in cases.items():
        data = assign(collection, "label", min_per_class=min_per_class, top_k=top_k, cache_dir=tmp_path / "cache")
        assert data.dropped == expected, (min_per_class, top_k)
        assert len(data.frame) + sum(data.dropped.values()) == records


def test_task_frame_columns_classes_and_rows(long_tail):
    collection, root = long_tail
    data = prepare_task(collection, "label", cache_dir=root / "cache", split=(0.7, 0.3, 0.0))
    assert list(data.frame.columns) == ["image_id", "path", "label", "y", "split"]
    assert data.frame["y"].tolist() == [data.classes.index(label) for label in data.frame["label"]]
    assert data.counts()["test"] == 0 and data.counts()["images"] == len(data.frame)
    train = data.rows("train")
    assert data.frame.loc[train.index, "split"].eq("train").all()  # the index points into `frame`
    with pytest.raises(DataError, match="choose one of train, val, test"):
        data.rows("validation")


def test_nothing_left_and_bad_fractions_are_refused(long_tail):
    collection, root = long_tail
    with pytest.raises(DataError, match="nothing is left after dropping"):
        prepare_task(collection, "label", cache_dir=root / "cache", min_per_class=31)
    with pytest.raises(DataError, match="only one class is left"):
        prepare_task(collection, "label", cache_dir=root / "cache", min_per_class=20)
    with pytest.raises(ConfigError, match="three fractions"):
        prepare_task(collection, "label", cache_dir=root / "cache", split=(0.5, 0.1, 0.1))
