"""The frozen-backbone feature cache: miss then hit, shared between tasks, safe under concurrency, exact."""

import threading

import numpy as np
import pytest
import torch

from study.trial import engine
from study.trial.features import FeatureStore, backbone_fingerprint, extract, store_key
from study.trial.models import get_model, set_mode
from study.trial.transforms import ArrayDataset, ToInput, epoch_batches, epoch_generator, make_loader

CPU = torch.device("cpu")


def _key(**over):
    return store_key(**{"model": "tiny_cnn", "fingerprint": "abc", "size": 32, "mean": (0.5,) * 3,
                        "std": (0.5,) * 3, "collection_key": "c0", **over})


def test_miss_then_hit_and_tasks_share_rows(tmp_path):
    calls = []

    def compute(positions, ids):
        calls.append([ids[p] for p in positions])
        return np.array([[float(ids[p][1:]), 1.0] for p in positions], np.float32)

    store = FeatureStore(tmp_path, _key())
    first = ["i1", "i2", "i3"]
    rows, status = store.get_or_compute(first, lambda pos: compute(pos, first))
    assert status == "miss" and rows[:, 0].tolist() == [1, 2, 3]
    rows, status = store.get_or_compute(first[::-1], lambda pos: compute(pos, first[::-1]))
    assert status == "hit" and rows[:, 0].tolist() == [3, 2, 1] and len(calls) == 1
    other_task = ["i2", "i4"]  # another task of the same collection: only i4 is new
    rows, status = store.get_or_compute(other_task, lambda pos: compute(pos, other_task))
    assert status == "miss" and calls[-1] == ["i4"] and rows[:, 0].tolist() == [2, 4]
    assert FeatureStore(tmp_path, _key(size=64)).root != store.root  # another input size: another store
    assert (store.root / "meta.json").is_file() and not list(store.root.glob(".*"))  # no temporary files left


def test_concurrent_fills_compute_once(tmp_path):
    ids = [f"i{i}" for i in range(20)]
    calls, results = [], []
    gate = threading.Barrier(2)

    def compute(positions):
        calls.append(len(positions))
        return np.ones((len(positions), 4), np.float32)

    def trial():
        gate.wait()
        results.append(FeatureStore(tmp_path, _key()).get_or_compute(ids, compute)[1])

    threads = [threading.Thread(target=trial) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [20] and sorted(results) == ["hit", "miss"]


def test_fingerprint_follows_the_weights():
    torch.manual_seed(0)
    a = get_model("tiny_cnn", 3).backbone
    torch.manual_seed(0)
    b = get_model("tiny_cnn", 3).backbone
    assert backbone_fingerprint(a) == backbone_fingerprint(b)
    with torch.no_grad():
        b.features[0][0].weight[0, 0, 0, 0] += 1e-3
    assert backbone_fingerprint(a) != backbone_fingerprint(b)


@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd"])
def test_head_from_cache_equals_head_through_frozen_backbone(tmp_path, optimizer):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, 40)
    to_input = ToInput((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    torch.manual_seed(0)
    model = get_model("tiny_cnn", 3)
    set_mode(model, "off_the_shelf")
    head_start = {k: v.clone() for k, v in model.head.state_dict().items()}

    def train(net, data, prepare):
        opt = engine.make_optimizer(net.parameters(), optimizer, 1e-2, momentum=0.9, nesterov=optimizer == "sgd")
        for epoch in range(1, 4):
            batches = epoch_batches(len(labels), 8, epoch_generator(0, epoch))
            engine.train_one_epoch(net, make_loader(ArrayDataset(data, labels), batches), opt, CPU, prepare)
        return {k: v.clone() for k, v in net.state_dict().items()}

    through_backbone = train(model, images, to_input)
    store = FeatureStore(tmp_path, _key(fingerprint=backbone_fingerprint(model.backbone)))
    ids = [f"img{i}" for i in range(len(images))]
    features, status = store.get_or_compute(ids, lambda pos: extract(model.backbone, images[pos], to_input, CPU, 16))
    assert status == "miss" and features.shape == (40, 64)
    model.head.load_state_dict(head_start)
    from_cache = train(model.head, torch.from_numpy(features), None)
    for key, value in from_cache.items():
        torch.testing.assert_close(value, through_backbone[f"head.{key}"], rtol=1e-5, atol=1e-6)
    assert not torch.equal(from_cache["weight"], head_start["weight"])  # it did train


def test_a_store_per_pixel_format(tmp_path, monkeypatch):
    """Features are computed from the image cache's pixels: a new pixel format is a new store."""
    from study.data import images as image_cache

    before = FeatureStore(tmp_path, _key()).root
    monkeypatch.setattr(image_cache, "FORMAT", image_cache.FORMAT + 1)
    assert FeatureStore(tmp_path, _key()).root != before


def test_an_image_changed_on_disk_gets_new_features(demo_root, tmp_path, capsys):
    """Rewriting one image file: the next off-the-shelf trial recomputes that image's features, and
    only that one, as a fine-tune trial would decode its new pixels (the image cache checks size and mtime)."""
    import shutil

    from PIL import Image

    from study.data import prepare_task, read_collection
    from study.trial.run_trial import run_trial

    root = shutil.copytree(demo_root, tmp_path / "demo")
    config = {"collection": "demo", "data_root": str(root), "task": "material", "model": "tiny_cnn",
              "weights": "none", "mode": "off_the_shelf", "image_size": 32, "max_epochs": 1,
              "cache_dir": str(tmp_path / "cache")}
    assert run_trial(config)["feature_cache"] == "miss"
    assert run_trial(config)["feature_cache"] == "hit"
    capsys.readouterr()
    frame = prepare_task(read_collection("demo", root, cache_dir=tmp_path / "cache"), "material").frame
    path = frame["path"].iloc[0]
    with Image.open(path) as image:
        Image.fromarray(255 - np.asarray(image.convert("RGB"))).save(path, format="JPEG", quality=80)
    assert run_trial(config)["feature_cache"] == "miss"
    assert "tiny_cnn features of 1 images" in capsys.readouterr().err
