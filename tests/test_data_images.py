"""The image cache (contents, reuse, rebuild, two builders at once) and the remembered readability verdicts."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from study.data import decode_resized, load_images, prepare_task, read_collection
from study.data.images import cache_folder
from study.data.readable import memo_path, readable

REPO = Path(__file__).resolve().parents[1]
SIZES = [(40, 30), (30, 40), (37, 37), (64, 20), (20, 64), (33, 50)]


@pytest.fixture
def paintings(tmp_path):
    """A folder collection of small images, each a distinct colour, of varied aspect ratios; JPEGs and PNGs."""
    root = tmp_path / "paintings"
    for i, size in enumerate(SIZES * 2):
        rng = np.random.default_rng(i)
        pixels = np.clip(rng.normal((20 * i, 255 - 20 * i, 90), 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        folder = root / ("jpeg" if i % 2 else "png")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:02d}.{'jpg' if i % 2 else 'png'}", quality=95)
    return root


def reference(path: str, size: int) -> np.ndarray:
    """Resize so the short side is `size`, then centre-crop: written independently, full decode, no draft."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        scale = size / min(w, h)
        new = (max(size, int(w * scale)), max(size, int(h * scale)))
        image = image.resize(new, Image.Resampling.BILINEAR)
        left, top = round((new[0] - size) / 2), round((new[1] - size) / 2)
        return np.asarray(image.crop((left, top, left + size, top + size)))


def test_cache_rows_equal_a_direct_decode_in_frame_order(paintings, tmp_path):
    collection = read_collection("folder", paintings)
    frame = prepare_task(collection, "label", cache_dir=tmp_path).frame
    pixels = load_images(collection, frame, 16, cache_dir=tmp_path)
    assert pixels.shape == (len(frame), 16, 16, 3) and pixels.dtype == np.uint8
    for i, path in enumerate(frame["path"]):
        assert np.array_equal(pixels[i], decode_resized(path, 16))
        difference = np.abs(pixels[i].astype(int) - reference(path, 16)).mean()
        assert difference < (0.5 if path.endswith(".png") else 8), (path, difference)
    backwards = frame.iloc[::-1]
    assert np.array_equal(load_images(collection, backwards, 16, cache_dir=tmp_path), pixels[::-1])


def test_centre_crop_keeps_the_middle_of_the_long_side(tmp_path):
    root = tmp_path / "c" / "x"
    root.mkdir(parents=True)
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)  # left third red: cropped away
    wide[:, 20:40] = (0, 0, 255)  # middle blue: kept
    Image.fromarray(wide).save(root / "wide.png")
    crop = decode_resized(str(root / "wide.png"), 10)
    assert (crop[:, 2:-2] == (0, 0, 255)).all()  # the outer columns blend a little red in (bilinear)
    assert crop[..., 0].mean() < 40


def test_cache_is_reused_then_rebuilt_when_an_image_changes(paintings, tmp_path):
    collection = read_collection("folder", paintings)
    frame = prepare_task(collection, "label", cache_dir=tmp_path).frame
    first = np.array(load_images(collection, frame, 12, cache_dir=tmp_path))
    array = cache_folder(collection, 12, tmp_path) / "pixels.npy"
    built = array.stat().st_mtime_ns
    load_images(collection, frame.iloc[:3], 12, cache_dir=tmp_path)
    assert array.stat().st_mtime_ns == built  # a subset of a cached frame: no rebuild

    target = frame["path"].iloc[0]
    Image.new("RGB", (40, 30), (1, 2, 3)).save(target)
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = load_images(collection, frame, 12, cache_dir=tmp_path)
    assert np.abs(again[0].astype(int) - (1, 2, 3)).max() <= 3  # a JPEG: near, not exact
    assert np.array_equal(again[1:], first[1:])
    assert not list(array.parent.glob("*.tmp*"))  # no temporary files left behind


def test_two_processes_building_at_once_read_a_whole_cache(paintings, tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from study.data import read_collection, prepare_task, load_images\n"
        "if __name__ == '__main__':\n"
        "    c = read_collection('folder', sys.argv[1])\n"
        "    f = prepare_task(c, 'label', cache_dir=sys.argv[2]).frame\n"
        "    np.save(sys.argv[3], load_images(c, f, 24, cache_dir=sys.argv[2]))\n")
    (tmp_path / "build.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ARTSTUDY_WORKERS": "2"}
    runs = [subprocess.Popen([sys.executable, str(tmp_path / "build.py"), str(paintings), str(tmp_path / "cache"),
                              str(tmp_path / f"out{i}.npy")], env=env, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    one, two = np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy")
    collection = read_collection("folder", paintings)
    frame = prepare_task(collection, "label", cache_dir=tmp_path / "cache").frame
    direct = np.stack([decode_resized(p, 24) for p in frame["path"]])
    assert np.array_equal(one, direct) and np.array_equal(two, direct)


def test_a_reader_waits_for_the_builder_and_never_sees_a_partial_cache(paintings, tmp_path):
    from filelock import FileLock

    collection = read_collection("folder", paintings)
    folder = cache_folder(collection, 8, tmp_path / "cache")
    folder.mkdir(parents=True)
    (folder / "pixels.deadbeef.tmp.npy").write_bytes(b"half of an array from a build that crashed")
    script = ("import sys, numpy as np\n"
              "from study.data import read_collection, prepare_task, load_images\n"
              "c = read_collection('folder', sys.argv[1])\n"
              "np.save(sys.argv[3], load_images(c, prepare_task(c, 'label', cache_dir=sys.argv[2]).frame, 8, "
              "cache_dir=sys.argv[2]))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with FileLock(str(folder) + ".lock"):  # as a builder in another process would hold it
        run = subprocess.Popen([sys.executable, "-c", script, str(paintings), str(tmp_path / "cache"),
                                str(tmp_path / "out.npy")], env=env, stderr=subprocess.PIPE, text=True)
        assert "waiting for another process to finish the image cache" in run.stderr.readline()
        assert not (folder / "pixels.npy").exists() and run.poll() is None
    run.communicate(timeout=60)
    assert run.returncode == 0
    frame = prepare_task(collection, "label", cache_dir=tmp_path / "cache").frame
    assert np.array_equal(np.load(tmp_path / "out.npy"), np.stack([decode_resized(p, 8) for p in frame["path"]]))
    assert not list(folder.glob("*.tmp*"))


def test_readability_is_remembered_by_path_size_and_mtime(paintings, tmp_path):
    collection = read_collection("folder", paintings)
    paths = collection.table["path"].tolist()
    assert readable(collection, paths, tmp_path).all()
    memo = json.loads(memo_path(collection, tmp_path).read_text())
    assert sorted(memo) == sorted(collection.table["image_id"])  # keyed by the path relative to the root
    Path(paths[0]).write_bytes(b"no longer an image")
    verdict = readable(collection, paths + [str(paintings / "png" / "absent.png")], tmp_path)
    assert verdict.tolist() == [False] + [True] * (len(paths) - 1) + [False]
