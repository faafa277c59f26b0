"""The frozen-backbone feature cache: off-the-shelf trials train their head on stored features.

With the backbone frozen (and in eval mode) and no augmentation, an image's pooled feature vector
never changes, so it is computed once and every epoch costs a linear layer instead of a backbone
pass (`python -m study.bench` measures the speed-up). Features belong to images, not to tasks: the
store is keyed by (backbone, a hash of its weights, input size, normalisation, collection, the image
cache's pixel format), and holds one row per image, so the tasks and label cutoffs of one collection
share it; a task whose images are partly there computes only the rest. A row's key is the image id
with its file's size and mtime (`row_keys`): the image cache decodes a file that changed on disk
again, and so must this cache, or off-the-shelf trials would train on the old file's features while
fine-tune trials see the new pixels.

Layout: `<cache_dir>/features/<key>/` holds `meta.json` (what the key stands for) and shards
`<hash>.npy` (float32 rows) + `<hash>.ids.json` (their image ids). A shard is written to a temporary
name and renamed, its ids file last, so a reader never sees half of one; filling happens under a
file lock, so two trials starting together compute the features once. What does not match its key
is not used: a folder whose meta.json names another key is emptied and filled again, and a shard
whose rows cannot be read or do not match its ids is left out, so its images are computed again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from torch import nn
from tqdm import tqdm

from study import atomic
from study.data import images as image_cache
from study.data.readable import file_stat
from study.trial.engine import autocast, to_device
from study.trial.transforms import ToInput


def backbone_fingerprint(backbone: nn.Module) -> str:
    """A hash of every parameter and buffer: the weights' identity, whatever file or seed they came from."""
    digest = hashlib.sha1()
    for name, tensor in sorted(backbone.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def store_key(*, model: str, fingerprint: str, size: int, mean: Sequence[float], std: Sequence[float],
              collection_key: str) -> dict:
    # "pixels": features are computed from the image cache's pixels, so a change in how it decodes
    # and resizes (its FORMAT) must not reuse features of the old pixels.
    return {"model": model, "weights": fingerprint, "size": size, "mean": list(mean), "std": list(std),
            "collection": collection_key, "pixels": image_cache.FORMAT}


def row_keys(image_ids: Sequence[str], paths: Sequence[str]) -> list[str]:
    """One key per image: its id and its file's (size, mtime_ns), as the image cache checks freshness."""
    return [f"{image_id}@{':'.join(map(str, file_stat(path) or (0, 0)))}" for image_id, path in zip(image_ids, paths)]


@torch.no_grad()
def extract(backbone: nn.Module, images: np.ndarray, prepare: ToInput, device: torch.device,
            batch_size: int = 64, desc: str = "features") -> np.ndarray:
    """Pooled features (N x D float32) of uint8 images, the backbone in eval mode."""
    backbone.eval()
    chunks = []
    with tqdm(total=len(images), desc=desc, unit="img", file=sys.stderr, mininterval=1.0, leave=False,
              disable=len(images) < 256) as bar:
        for start in range(0, len(images), batch_size):
            # A copy of the batch: `images` may be the image cache's read-only memory map, which torch will not
            # wrap without a warning; a batch of uint8 pixels is small beside the forward pass it feeds.
            batch = np.array(images[start:start + batch_size], order="C")
            x = to_device(torch.from_numpy(batch), device, prepare)
            with autocast(device):
                chunks.append(backbone(x).float().cpu().numpy())
            bar.update(len(x))
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


class FeatureStore:
    """One folder of feature rows keyed by image id (see the module docstring for its layout)."""

    def __init__(self, cache_dir: str | Path, key: dict) -> None:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        self.root = Path(cache_dir) / "features" / digest
        self.key = key

    def _index(self) -> dict[str, tuple[Path, int]]:
        index: dict[str, tuple[Path, int]] = {}
        if self.root.is_dir() and self._meta_matches():
            for ids_file in sorted(self.root.glob("*.ids.json")):
                rows = self.root / ids_file.name.replace(".ids.json", ".npy")
                ids = _shard_ids(ids_file, rows)
                for row, image_id in enumerate(ids):
                    index.setdefault(image_id, (rows, row))
        return index

    def _meta_matches(self) -> bool:
        try:
            return json.loads((self.root / "meta.json").read_text()) == json.loads(json.dumps(self.key))
        except (OSError, ValueError):
            return False

    def lookup(self, ids: Sequence[str]) -> np.ndarray | None:
        """The rows for `ids`, in order, or None when any is missing."""
        index = self._index()
        if any(i not in index for i in ids):
            return None
        by_file: dict[Path, list[tuple[int, int]]] = {}
        for pos, image_id in enumerate(ids):
            path, row = index[image_id]
            by_file.setdefault(path, []).append((pos, row))
        out: np.ndarray | None = None
        for path, pairs in by_file.items():
            rows = np.load(path, mmap_mode="r")
            if out is None:
                out = np.empty((len(ids), rows.shape[1]), np.float32)
            pos, row = (np.array(v) for v in zip(*pairs))
            out[pos] = rows[row]
        return out if out is not None else np.zeros((0, 0), np.float32)

    def _write(self, ids: list[str], rows: np.ndarray) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        meta = self.root / "meta.json"
        if not self._meta_matches():  # absent, damaged or another key's: its shards are not these features
            for stale in [*self.root.glob("*.npy"), *self.root.glob("*.ids.json")]:
                stale.unlink(missing_ok=True)
            atomic.write_bytes(meta, json.dumps(self.key, indent=1).encode())
        name = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
        with atomic.atomic_path(self.root / f"{name}.npy") as tmp:
            np.save(tmp, rows)
        atomic.write_bytes(self.root / f"{name}.ids.json", json.dumps(ids).encode())  # last: marks the shard complete

    def get_or_compute(self, ids: Sequence[str], compute: Callable[[list[int]], np.ndarray]) -> tuple[np.ndarray, str]:
        """(rows for `ids`, "hit" | "miss"); `compute(positions)` makes the rows of the missing ids."""
        ids = list(ids)
        found = self.lookup(ids)
        if found is not None:
            return found, "hit"
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root) + ".lock"):
            index = self._index()  # another trial may have filled it while we waited
            missing = [pos for pos, image_id in enumerate(ids) if image_id not in index]
            if missing:
                rows = compute(missing)
                if len(rows) != len(missing):
                    raise RuntimeError(f"feature extraction returned {len(rows)} rows for {len(missing)} images")
                self._write([ids[p] for p in missing], rows)
        found = self.lookup(ids)
        assert found is not None, f"feature store {self.root} lost rows it just wrote"
        return found, ("miss" if missing else "hit")


def _shard_ids(ids_file: Path, rows: Path) -> list[str]:
    """A shard's image ids, or [] when its ids or rows are unreadable or do not match one another."""
    try:
        ids = json.loads(ids_file.read_text())
        shape = np.load(rows, mmap_mode="r").shape
    except (OSError, ValueError):
        return []
    return ids if isinstance(ids, list) and len(shape) == 2 and shape[0] == len(ids) else []


def written_rows(cache_dir: str | Path) -> dict[str, tuple[dict, list[str]]]:
    """Every store under `cache_dir`: {folder name: (its key, the id of every row ever written)}.

    Each row written is one image through a frozen backbone (a miss), so duplicates in the id list
    are backbone passes spent twice; `python -m study.bench` counts them this way, not by timing.
    """
    stores = {}
    for meta in sorted(Path(cache_dir, "features").glob("*/meta.json")):
        ids = [i for shard in sorted(meta.parent.glob("*.ids.json")) for i in json.loads(shard.read_text())]
        stores[meta.parent.name] = (json.loads(meta.read_text()), ids)
    return stores
