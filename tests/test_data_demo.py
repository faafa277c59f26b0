"""The demo collection: deterministic, read back exactly by the rijksmuseum reader, long-tailed, and learnable."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits

from study.config import DemoBudget
from study.data import load_images, prepare_task, read_collection, summarize, write_demo
from study.data import demo as demo_module
from study.data.demo import sample_labels


def digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_files(tmp_path):
    one = digests(write_demo(tmp_path / "a", images=30, seed=5))
    two = digests(write_demo(tmp_path / "b", images=30, seed=5))
    other = digests(write_demo(tmp_path / "c", images=30, seed=6))
    assert one == two and len(one) == 61  # 30 records, 30 images, demo.json
    assert one != other


def test_the_reader_gets_back_exactly_the_labels_that_were_drawn(demo_root):
    collection = read_collection("rijksmuseum", demo_root)
    drawn = sample_labels(300, seed=0)
    assert collection.table["image_id"].str[:7].tolist() == [f"{i + 1:07d}" for i in range(300)]
    for t, task in enumerate(("material", "type", "artist")):
        assert collection.table[task].tolist() == [labels[t] for labels in drawn], task


def test_records_vary_as_museum_exports_do(demo_root):
    text = "\n".join(p.read_text() for p in sorted((demo_root / "xml2").glob("*.xml")))
    for variant in ('<record xmlns:dc="', 'xmlns:d="http://purl.org/dc/elements/1.1/"', "<d:creator>",
                    "materiaal: ", "Materiaal: ", "material: ", "prentmaker: ", "print maker: ", "anoniem",
                    "uitgever: Frederik de Wit", "historieprent"):
        assert variant in text, variant


def test_classes_are_long_tailed_with_anonymous_makers(demo_root, tmp_path):
    summary = summarize(read_collection("rijksmuseum", demo_root), cache_dir=tmp_path)["tasks"]
    collection = read_collection("rijksmuseum", demo_root)
    for task in ("material", "type", "artist"):
        counts = collection.table[task].value_counts()
        assert counts.iloc[0] >= 4 * counts.median()  # a few large classes, many small ones
        assert summary[task]["dropped"]["rare_class"] == 3  # the tail classes of 2 and 1 images
    assert summary["material"]["dropped"]["no_label"] == 9  # 3 %
    assert 0.12 < summary["artist"]["dropped"]["no_label"] / 300 < 0.25  # anonymous and unknown makers


def test_images_are_small_jpegs_of_varied_shape(demo_root):
    ratios = []
    for path in sorted((demo_root / "jpg2").glob("*.jpg"))[:60]:
        with Image.open(path) as image:
            assert image.format == "JPEG" and 96 <= min(image.size) and max(image.size) <= 128
            ratios.append(image.size[0] / image.size[1])
    assert min(ratios) < 0.85 and max(ratios) > 1.15  # portrait and landscape


def features(pixels: np.ndarray) -> np.ndarray:
    """Coarse colour (8 x 8 x 3) and the grey image's Fourier magnitudes (hatching, whatever its phase)."""
    x = pixels.astype(np.float32) / 255
    coarse = x.reshape(len(x), 8, 4, 8, 4, 3).mean((2, 4)).reshape(len(x), -1)
    grey = x.mean(-1)
    spectrum = np.log1p(np.abs(np.fft.rfft2(grey - grey.mean((1, 2), keepdims=True)))).reshape(len(x), -1)
    return np.hstack([coarse, spectrum])


@pytest.mark.parametrize("task", ["material", "type", "artist"])
def test_every_task_is_learnable_well_above_the_majority_class_but_not_perfectly(demo_root, tmp_path, task):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    collection = read_collection("rijksmuseum", demo_root)
    data = prepare_task(collection, task, cache_dir=tmp_path)
    x, y = features(load_images(collection, data.frame, 32, cache_dir=tmp_path)), data.frame["y"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=200))
    with threadpool_limits(1):  # BLAS threads only fight each other on a busy 2-core machine
        accuracy = cross_val_score(model, x, y, cv=KFold(3, shuffle=True, random_state=0)).mean()
    majority = np.bincount(y).max() / len(y)
    assert majority + 0.12 < accuracy < 0.95, (accuracy, majority)


def test_write_demo_replaces_an_earlier_demo(tmp_path):
    write_demo(tmp_path / "d", images=12, seed=0)
    write_demo(tmp_path / "d", images=5, seed=0)
    assert len(list((tmp_path / "d" / "xml2").iterdir())) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary folders left


def test_ensure_demo_writes_once_and_read_collection_uses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_module, "DEMO_BUDGET", DemoBudget(images=12))
    first = demo_module.ensure_demo(tmp_path)
    written = (first / "demo.json").stat().st_mtime_ns
    assert demo_module.ensure_demo(tmp_path) == first and (first / "demo.json").stat().st_mtime_ns == written
    collection = read_collection("demo", None, cache_dir=tmp_path)
    assert collection.name == "demo" and collection.root == first.resolve() and len(collection) == 12


def test_the_runner_and_the_reader_share_one_cached_demo(tmp_path, monkeypatch):
    from study.run.planning import demo_root

    monkeypatch.setenv("ARTSTUDY_CACHE", str(tmp_path))
    monkeypatch.setattr(demo_module, "DEMO_BUDGET", DemoBudget(images=12))
    root = demo_root(0)
    assert read_collection("demo").root == demo_module.ensure_demo().resolve() == Path(root).resolve()
    source = demo_root(1)  # cross_collection's source: another seed, another folder beside it
    assert json.loads((Path(source) / "demo.json").read_text())["seed"] == 1 and source != root
    folders = sorted(p.name for p in (tmp_path / "demo").iterdir() if p.is_dir())
    assert folders == sorted([Path(root).name, Path(source).name])


@pytest.mark.parametrize("change", ["titles", "painter"])
def test_a_changed_generator_writes_a_new_cached_demo(tmp_path, monkeypatch, change):
    """The cached demo's folder is named by what the generator writes, not by a number someone must bump."""
    monkeypatch.setattr(demo_module, "DEMO_BUDGET", DemoBudget(images=12))
    old = demo_module.ensure_demo(tmp_path)
    if change == "titles":
        monkeypatch.setattr(demo_module, "TITLES", ["Zonder titel"])
    else:
        painter = demo_module.paint
        monkeypatch.setattr(demo_module, "paint", lambda *a: 255 - painter(*a))
    new = demo_module.ensure_demo(tmp_path)
    assert new != old and (new / "demo.json").is_file()
    # each folder is named by the fingerprint its own marker records, and the two differ
    marks = [json.loads((folder / "demo.json").read_text())["fingerprint"] for folder in (old, new)]
    assert marks[0] != marks[1] and all(f"-{mark}-seed0-12" in folder.name for mark, folder in zip(marks, (old, new)))
