"""Finished work of a sweep, one atomic `.npz` file per chunk, so a stopped sweep loses nothing.

A chunk file holds named arrays plus a SHA-256 over them; `load` returns None for a missing,
unreadable, truncated or tampered file (it is then recomputed), and `save` writes through a temp
file and `os.replace`, so a reader never sees half a chunk (kill -9 included).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from implicit_bias_lab.experiments.io import atomic_write_bytes

CHECKSUM_KEY = "__sha256__"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class ChunkStore:
    """Chunk files under `root`, named by a string key. A chunk file that exists but is not intact
    is reported on `report` (one line: which chunk and why) when `load` finds it, and then
    recomputed by the caller."""

    def __init__(self, root: str | Path, report=None):
        self.root = Path(root)
        self.report = report

    def _bad(self, path: Path, why: str) -> None:
        if self.report is not None:
            print(f"recomputing chunk {path.name} in {path.parent}: {why}", file=self.report)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if CHECKSUM_KEY in arrays:
            raise ValueError(f"array name {CHECKSUM_KEY!r} is reserved")
        buf = io.BytesIO()
        np.savez(buf, **arrays, **{CHECKSUM_KEY: np.array(_digest(arrays))})
        path = self.path(key)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The chunk's arrays, or None if the file is missing or not intact."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
            self._bad(path, f"unreadable ({type(err).__name__})")
            return None
        stored = arrays.pop(CHECKSUM_KEY, None)
        if stored is None or str(stored) != _digest(arrays):
            self._bad(path, "checksum mismatch (truncated or modified)")
            return None
        return arrays
