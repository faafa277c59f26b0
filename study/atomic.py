"""Files written whole or not at all, and a full disk said in one line.

    from study.atomic import write_text, atomic_path
    write_text(folder / "study.json", text)          # readers see the old file or the new one, never half
    with atomic_path(folder / "model.pt") as tmp:    # for writers that want a path (torch.save, savefig)
        torch.save(payload, tmp)

Every file the project writes (caches, study.json, reports, models) goes to a temporary name in
its own folder, is flushed to disk, and is then renamed over the target: a rename within a folder
is atomic, so a crash or a kill leaves either the previous file or the complete new one, never a
truncated file a later run would trust. A write that fails removes its temporary file and leaves
the previous file as it was. A full disk (ENOSPC, or a quota: EDQUOT) becomes `DiskFullError`, a
`StudyError`, so command lines print one line instead of a traceback.

Pure Python (no torch, no Ray, no pandas): `analysis` uses it too.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from study.errors import StudyError

FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(StudyError, OSError):
    """No space left where a file was being written; what was there before is unchanged."""

    def __str__(self) -> str:  # the message alone, not OSError's "[Errno 28] ..."
        return str(self.strerror)


def disk_full(error: OSError, path: str | Path) -> DiskFullError:
    return DiskFullError(error.errno, f"no space left on the disk holding {Path(path).parent} while writing "
                         f"{Path(path).name} ({error.strerror}); files written before are unchanged: free "
                         "some space (or point ARTSTUDY_CACHE / --storage / --out elsewhere) and run again")


@contextmanager
def full_disk_is_an_error(path: str | Path) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside the block into DiskFullError naming `path`."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        if error.errno in FULL:
            raise disk_full(error, path) from None
        raise


def temporary_name(path: Path) -> Path:
    # Hidden, unique across processes and hosts, same folder (so the rename stays atomic), same
    # suffix (np.save adds .npy, savefig infers the format from it).
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write `path` through; renamed to `path` once the block succeeds."""
    path = Path(path)
    temp = temporary_name(path)
    try:
        with full_disk_is_an_error(path):
            yield temp
            _sync(temp)
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
    return Path(path)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes(path, text.encode(encoding))


def _sync(path: Path) -> None:
    """Flush the file to the disk before the rename: after a power cut, the new name has whole contents."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
