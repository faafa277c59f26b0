"""From the data layer's uint8 image arrays to model inputs: batching, normalisation, augmentation.

The data layer hands over images already resized and centre-cropped to the input size (uint8,
N x H x W x 3, memory-mapped from its cache). What is left happens per batch, on the device:
scaling to [0, 1], the backbone's mean/std, and, with augment=true, a random crop and flip.

Batch order and augmentation draw from a generator seeded by (seed, epoch), not from the global
RNG, so a resumed trial replays exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from study.data.parallel import START_METHOD


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Index batches over n items: shuffled when a generator is given, in order otherwise.

    A last batch of one image is merged into the one before: a BatchNorm layer whose input is
    1 x 1 spatially (a backbone at its minimum input size) cannot train on a single image.
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


class ArrayDataset(Dataset):
    """Rows of an array (images or features) and their labels, fetched a whole batch at a time."""

    def __init__(self, inputs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> None:
        self.inputs = inputs
        if isinstance(labels, torch.Tensor):
            self.labels = labels.to(torch.long)
        else:
            self.labels = torch.from_numpy(np.array(labels, dtype=np.int64))  # a copy: the frame's may be read-only

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.inputs, torch.Tensor):
            x = self.inputs[idx]
        else:
            x = torch.from_numpy(np.ascontiguousarray(self.inputs[idx.numpy()]))
        return x, self.labels[idx]

    def __getstate__(self) -> dict:
        # A worker process reopens the memory map instead of receiving a pickled copy of every image.
        state = dict(self.__dict__)
        where = _memmap_location(self.inputs)
        if where is not None:
            state["inputs"] = ("memmap", *where)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["inputs"], tuple) and state["inputs"][0] == "memmap":
            _, filename, dtype, shape, offset = state["inputs"]
            state["inputs"] = np.memmap(filename, dtype=np.dtype(dtype), mode="r", shape=shape, offset=offset)
        self.__dict__.update(state)


def _memmap_location(a: object) -> tuple[str, str, tuple, int] | None:
    """(file, dtype, shape, byte offset) of a C-contiguous view into a memory-mapped file, else None.

    A slice of a memmap keeps its parent's `offset`, so the view's own offset is measured from
    where the mapping starts (mmap maps from a page-aligned offset below the requested one).
    """
    if not isinstance(a, np.memmap) or not a.filename or not a.flags.c_contiguous or getattr(a, "_mmap", None) is None:
        return None
    mapped = np.frombuffer(a._mmap, dtype=np.uint8)
    start = a.offset - a.offset % mmap.ALLOCATIONGRANULARITY
    return a.filename, a.dtype.str, a.shape, start + (a.ctypes.data - mapped.ctypes.data)


class EpochBatches(Sampler):
    """The index batches of the pass about to run, replaced before each pass (`loader.sampler.batches = ...`).

    A DataLoader draws from its sampler in the calling process, so one loader, and with it one set of
    persistent worker processes, serves every epoch and every split of a trial.
    """

    def __init__(self, batches: Sequence[torch.Tensor] = ()) -> None:
        self.batches = list(batches)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def make_loader(dataset: ArrayDataset, batches: Sequence[torch.Tensor] = (), num_workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """A loader over `dataset` whose sampler is an EpochBatches: set `.sampler.batches` before each pass.

    Workers are started once and kept (persistent), not once per pass, and never forked from this
    process, whose torch threads a fork would copy in a locked state: they start as the data layer's
    own worker pools do (study/data/parallel.py, a fork server where there is one) and reopen the
    image cache's memory map (ArrayDataset.__getstate__) instead of receiving a copy of it.
    """
    workers = {"multiprocessing_context": START_METHOD, "persistent_workers": True} if num_workers > 0 else {}
    # batch_size=None: each "sample" the sampler yields is a whole batch of indices
    return DataLoader(dataset, batch_size=None, sampler=EpochBatches(batches), num_workers=num_workers,
                      pin_memory=pin_memory, **workers)


class ToInput:
    """uint8 NHWC batch -> float NCHW, normalised with the backbone's mean/std; optionally augmented."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], augment: bool = False) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.augment = augment
        self.generator: torch.Generator | None = None  # set per epoch when augmenting

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if self.augment:
            x = random_crop_flip(x, self.generator)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def random_crop_flip(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A random crop of the same size from the image padded by 1/8 of its side (reflected), and a 50% flip."""
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    # drawn on the CPU so the same generator serves any device
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    return torch.where(flip.view(n, 1, 1, 1), out.flip(-1), out)
