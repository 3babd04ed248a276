"""Vector indexes for the repeat / group similarity layer: cosine top-k over L2-normalised embeddings.

Three implementations of one interface, `VectorIndex`:

* `ExactIndex` — numpy. A contiguous float32 matrix plus an id→row map; removal swaps the last row into
  the hole (O(1)), growth doubles the capacity and the capacity halves again when the index empties to a
  quarter, so memory follows the window. Search is one matmul and an `argpartition`.
* `AnnIndex` — HNSW graph of `usearch`, vectors stored as bfloat16, inner-product metric.
* `AutoIndex` — exact below `threshold` live entries (default 20,000), moves itself to an `AnnIndex` once
  it grows past it and stays approximate afterwards (a window that has once been that large will be
  again; moving back and forth would rebuild each time).

Contract shared by all three
----------------------------
* ids are non-negative integers (int64); -1 is the padding id of search results.
* Vectors are float32 rows of length `dim`, L2-normalised by the caller: similarity = inner product =
  cosine. Nothing is normalised here.
* `add` of an id already present replaces its vector (upsert); an id twice in one call is a ValueError.
* `remove` of an id that is not present is a no-op; it returns the number of ids actually removed.
* `search(vectors, k)` returns `(similarities, ids)`, both `(n, k)`, best first; rows with fewer than k
  entries are padded with id -1 and similarity -inf.
* `save(dir)` writes a directory (atomically: a temporary sibling renamed into place); `load(dir)` gives
  an index whose search results are identical. `load_index(dir)` opens any of the three.
* Not thread-safe: the caller serialises access.

Why usearch and not hnswlib, and the defaults at window scale (M, ef_construction, ef_search), were chosen by
measurement: the record is in BENCHMARKS.md ("Why usearch, not hnswlib" and "HNSW defaults at scale").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from usearch.index import BatchMatches, Matches

__all__ = [
    "DEFAULT_THRESHOLD",
    "AnnIndex",
    "AutoIndex",
    "ExactIndex",
    "VectorIndex",
    "load_index",
]

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]

DEFAULT_THRESHOLD = 20_000
_FORMAT = 1
_META = "meta.json"


@runtime_checkable
class VectorIndex(Protocol):
    """Cosine top-k over L2-normalised float32 vectors keyed by non-negative int64 ids (see module doc)."""

    @property
    def dim(self) -> int: ...

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None: ...

    def remove(self, ids: npt.ArrayLike) -> int: ...

    def search(self, vectors: npt.ArrayLike, k: int) -> tuple[FloatArray, IdArray]: ...

    def __len__(self) -> int: ...

    def __contains__(self, id_: object) -> bool: ...

    def save(self, path: str | os.PathLike[str]) -> None: ...

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self: ...


# --- helpers ------------------------------------------------------------------------------------------


def _as_ids(ids: npt.ArrayLike) -> IdArray:
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids must be integers, got {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if out.size and out.min() < 0:
        raise ValueError("ids must be non-negative (-1 is the padding id)")
    return out


def _as_vectors(vectors: npt.ArrayLike, dim: int) -> FloatArray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"vectors must have shape (n, {dim}), got {arr.shape}")
    return np.ascontiguousarray(arr)


def _batch(ids: npt.ArrayLike, vectors: npt.ArrayLike, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors of one `add` call, validated against each other and the index's dimension."""
    id_arr, vec_arr = _as_ids(ids), _as_vectors(vectors, dim)
    _check_batch(id_arr, vec_arr)
    return id_arr, vec_arr


def _check_batch(ids: IdArray, vectors: FloatArray) -> None:
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("an id appears more than once in one add")


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _id_key(id_: object) -> int | None:
    """The int an id stands for, or None when it cannot be one (so `in` is just False)."""
    if isinstance(id_, bool):
        return None
    if isinstance(id_, int | np.integer):
        return int(id_)
    return None


def _empty_result(n: int, k: int) -> tuple[FloatArray, IdArray]:
    return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)


@contextmanager
def _atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `path`; on success it replaces `path` whole."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    (directory / _META).write_text(json.dumps({"format": _FORMAT, **meta}, indent=2), encoding="utf-8")


def _read_meta(path: str | os.PathLike[str], kind: str | None = None) -> dict[str, Any]:
    meta_path = Path(path) / _META
    if not meta_path.is_file():
        raise FileNotFoundError(f"no vector index at {path} (missing {_META})")
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != _FORMAT:
        raise ValueError(f"unsupported index format {meta.get('format')!r} at {path}")
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r} index, not {kind!r}")
    return meta


# --- exact ---------------------------------------------------------------------------------------------


class ExactIndex:
    """Brute-force cosine search in numpy; exact, and the fastest choice for small windows."""

    _MIN_CAPACITY = 1024

    def __init__(self, dim: int, *, capacity: int = 0) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = int(dim)
        cap = max(self._MIN_CAPACITY, int(capacity))
        self._vectors: FloatArray = np.empty((cap, self._dim), dtype=np.float32)
        self._ids: IdArray = np.empty(cap, dtype=np.int64)
        self._rows: dict[int, int] = {}
        self._n = 0

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def capacity(self) -> int:
        """Rows allocated (live entries plus headroom)."""
        return len(self._ids)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, id_: object) -> bool:
        key = _id_key(id_)
        return key is not None and key in self._rows

    def ids(self) -> IdArray:
        """Live ids, in storage order (a copy)."""
        return self._ids[: self._n].copy()

    def vectors(self) -> FloatArray:
        """Live vectors, rows matching `ids()` (a copy)."""
        return self._vectors[: self._n].copy()

    def _resize(self, capacity: int) -> None:
        vectors = np.empty((capacity, self._dim), dtype=np.float32)
        ids = np.empty(capacity, dtype=np.int64)
        vectors[: self._n] = self._vectors[: self._n]
        ids[: self._n] = self._ids[: self._n]
        self._vectors, self._ids = vectors, ids

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec_arr = _batch(ids, vectors, self._dim)
        if not len(id_arr):
            return
        rows = self._rows
        id_list = id_arr.tolist()
        present = np.fromiter((i in rows for i in id_list), dtype=bool, count=len(id_list))
        if present.any():  # upsert: overwrite in place
            existing = [rows[i] for i in id_arr[present].tolist()]
            self._vectors[existing] = vec_arr[present]
            id_arr, vec_arr = id_arr[~present], vec_arr[~present]
            id_list = id_arr.tolist()
        m = len(id_list)
        if not m:
            return
        needed = self._n + m
        if needed > self.capacity:
            cap = self.capacity
            while cap < needed:
                cap *= 2
            self._resize(cap)
        start = self._n
        self._vectors[start:needed] = vec_arr
        self._ids[start:needed] = id_arr
        rows.update(zip(id_list, range(start, needed), strict=True))
        self._n = needed

    def remove(self, ids: npt.ArrayLike) -> int:
        removed = 0
        rows, vectors, stored = self._rows, self._vectors, self._ids
        for key in _as_ids(ids).tolist():
            row = rows.pop(key, None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                moved = int(stored[last])
                vectors[row] = vectors[last]
                stored[row] = moved
                rows[moved] = row
            self._n = last
            removed += 1
        cap = self.capacity
        while cap > self._MIN_CAPACITY and self._n <= cap // 4:
            cap //= 2
        if cap != self.capacity:
            self._resize(max(self._MIN_CAPACITY, cap))
        return removed

    def search(self, vectors: npt.ArrayLike, k: int) -> tuple[FloatArray, IdArray]:
        _check_k(k)
        queries = _as_vectors(vectors, self._dim)
        sims_out, ids_out = _empty_result(len(queries), k)
        n = self._n
        if n == 0 or not len(queries):
            return sims_out, ids_out
        sims = queries @ self._vectors[:n].T  # (q, n)
        take = min(k, n)
        if take < n:
            part = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        else:
            part = np.broadcast_to(np.arange(n), (len(queries), n))
        part_sims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-part_sims, axis=1, kind="stable")
        rows = np.take_along_axis(part, order, axis=1)
        sims_out[:, :take] = np.take_along_axis(part_sims, order, axis=1)
        ids_out[:, :take] = self._ids[rows]
        return sims_out, ids_out

    def save(self, path: str | os.PathLike[str]) -> None:
        with _atomic_dir(path) as tmp:
            np.save(tmp / "ids.npy", self._ids[: self._n])
            np.save(tmp / "vectors.npy", self._vectors[: self._n])
            _write_meta(tmp, {"kind": "exact", "dim": self._dim, "count": self._n})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        meta = _read_meta(path, "exact")
        ids = np.load(Path(path) / "ids.npy", allow_pickle=False)
        vectors = np.load(Path(path) / "vectors.npy", allow_pickle=False)
        index = cls(int(meta["dim"]), capacity=len(ids))
        index.add(ids, vectors)
        return index


# --- approximate ---------------------------------------------------------------------------------------


class AnnIndex:
    """HNSW (usearch) cosine search; removed entries' slots are reused by later adds, so capacity stays
    at the largest window seen.

    `dtype` is the storage precision ("bf16" default, "f16", "f32"); `connectivity` is HNSW's M,
    `expansion_add` / `expansion_search` its ef_construction / ef. `threads` is used for adds and batch
    searches (0 = all cores); a single-vector search always runs on the calling thread.

    Expire in batches: `remove` itself is O(1) per id, but every usearch removal call makes the next
    operation (add or search) pay one pass proportional to the index size — ~34 ms at 1M entries, ~2.5 ms
    at 100k — whether it removed 1 id or 10,000. Removing the expired entries once per minute or per few
    hundred complaints costs well under a millisecond per complaint; one removal per complaint costs 34 ms.
    """

    def __init__(
        self,
        dim: int,
        *,
        dtype: str = "bf16",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 128,
        threads: int = 0,
    ) -> None:
        from usearch.index import Index

        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = int(dim)
        self._options: dict[str, Any] = {
            "dtype": dtype,
            "connectivity": int(connectivity),
            "expansion_add": int(expansion_add),
            "expansion_search": int(expansion_search),
            "threads": int(threads),
        }
        self._index = Index(
            ndim=self._dim,
            metric="ip",
            dtype=dtype,
            connectivity=int(connectivity),
            expansion_add=int(expansion_add),
            expansion_search=int(expansion_search),
        )

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def options(self) -> dict[str, Any]:
        """The constructor's keyword arguments (what `save` records)."""
        return dict(self._options)

    @property
    def capacity(self) -> int:
        """Slots allocated, live and removed-awaiting-reuse together."""
        return int(self._index.capacity)

    @property
    def memory_usage(self) -> int:
        """Bytes held by the index (vectors and graph), as usearch reports it."""
        return int(self._index.memory_usage)

    def __len__(self) -> int:
        return int(self._index.size)

    def __contains__(self, id_: object) -> bool:
        key = _id_key(id_)
        return key is not None and key >= 0 and bool(self._index.contains(key))

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec_arr = _batch(ids, vectors, self._dim)
        if not len(id_arr):
            return
        keys = id_arr.astype(np.uint64)
        present = np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)
        if present.any():  # upsert: usearch refuses duplicate keys
            self._index.remove(keys[present])
        self._index.add(keys, vec_arr, threads=self._options["threads"])

    def remove(self, ids: npt.ArrayLike) -> int:
        keys = np.unique(_as_ids(ids)).astype(np.uint64)
        if not len(keys):
            return 0
        keys = keys[np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)]
        if not len(keys):  # nothing to do: spare the pass that any usearch removal costs (see class doc)
            return 0
        return int(np.sum(self._index.remove(keys)))

    def search(self, vectors: npt.ArrayLike, k: int) -> tuple[FloatArray, IdArray]:
        _check_k(k)
        queries = _as_vectors(vectors, self._dim)
        sims_out, ids_out = _empty_result(len(queries), k)
        if not len(queries) or not len(self):
            return sims_out, ids_out
        threads = 1 if len(queries) == 1 else self._options["threads"]
        matches = cast("Matches | BatchMatches", self._index.search(queries, k, threads=threads))
        keys = np.asarray(matches.keys).reshape(len(queries), -1)
        distances = np.asarray(matches.distances, dtype=np.float32).reshape(len(queries), -1)
        # usearch gives Matches (keys cut to the hits) for a single row, BatchMatches (padded) otherwise
        counts = np.asarray(matches.counts if hasattr(matches, "counts") else [keys.shape[1]]).reshape(-1, 1)
        width = min(k, keys.shape[1])
        valid = np.arange(width) < counts
        ids_out[:, :width] = np.where(valid, keys[:, :width].astype(np.int64), -1)
        with np.errstate(invalid="ignore"):  # the padding's distances are NaN
            sims_out[:, :width] = np.where(valid, 1.0 - distances[:, :width], -np.inf)
        return sims_out, ids_out

    def save(self, path: str | os.PathLike[str]) -> None:
        with _atomic_dir(path) as tmp:
            self._index.save(str(tmp / "index.usearch"))
            _write_meta(tmp, {"kind": "ann", "library": "usearch", "dim": self._dim, "count": len(self),
                              "options": self._options})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        from usearch.index import Index

        meta = _read_meta(path, "ann")
        index = cls(int(meta["dim"]), **meta["options"])
        restored = Index.restore(str(Path(path) / "index.usearch"))
        if restored is None:
            raise ValueError(f"unreadable usearch index at {path}")
        # usearch's stubs see these as read-only; the setters exist (mypy wants them right after the getter)
        restored.expansion_add = index._options["expansion_add"]  # type: ignore[misc]
        restored.expansion_search = index._options["expansion_search"]  # type: ignore[misc]
        index._index = restored
        return index


# --- automatic -----------------------------------------------------------------------------------------


class AutoIndex:
    """Exact up to `threshold` live entries, approximate (`AnnIndex`) from the first add that takes it past
    that; stays approximate afterwards. `ann_options` go to `AnnIndex`.

    The move happens inside that `add`: every live vector is re-inserted into the HNSW graph (a few seconds
    at 20,000 entries), once.
    """

    def __init__(self, dim: int, *, threshold: int = DEFAULT_THRESHOLD, **ann_options: Any) -> None:
        if threshold < 0:
            raise ValueError(f"threshold must be non-negative, got {threshold}")
        self._dim = int(dim)
        self.threshold = int(threshold)
        self._ann_options = dict(ann_options)
        self._inner: ExactIndex | AnnIndex = ExactIndex(self._dim)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def is_approximate(self) -> bool:
        return isinstance(self._inner, AnnIndex)

    @property
    def inner(self) -> ExactIndex | AnnIndex:
        """The index doing the work now."""
        return self._inner

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._inner

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        inner = self._inner
        if isinstance(inner, ExactIndex):
            id_arr = _as_ids(ids)
            new = sum(1 for i in id_arr.tolist() if i not in inner)
            if len(inner) + new > self.threshold:
                self._migrate(inner)
        self._inner.add(ids, vectors)

    def _migrate(self, exact: ExactIndex, batch: int = 50_000) -> None:
        ann = AnnIndex(self._dim, **self._ann_options)
        n = len(exact)
        for start in range(0, n, batch):
            stop = min(n, start + batch)
            ann.add(exact._ids[start:stop], exact._vectors[start:stop])
        self._inner = ann

    def remove(self, ids: npt.ArrayLike) -> int:
        return self._inner.remove(ids)

    def search(self, vectors: npt.ArrayLike, k: int) -> tuple[FloatArray, IdArray]:
        return self._inner.search(vectors, k)

    def save(self, path: str | os.PathLike[str]) -> None:
        with _atomic_dir(path) as tmp:
            self._inner.save(tmp / "inner")
            _write_meta(tmp, {"kind": "auto", "dim": self._dim, "threshold": self.threshold,
                              "ann_options": self._ann_options, "approximate": self.is_approximate})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        meta = _read_meta(path, "auto")
        index = cls(int(meta["dim"]), threshold=int(meta["threshold"]), **meta["ann_options"])
        inner_path = Path(path) / "inner"
        index._inner = AnnIndex.load(inner_path) if meta["approximate"] else ExactIndex.load(inner_path)
        return index


_KINDS: dict[str, type[ExactIndex] | type[AnnIndex] | type[AutoIndex]] = {
    "exact": ExactIndex,
    "ann": AnnIndex,
    "auto": AutoIndex,
}


def load_index(path: str | os.PathLike[str]) -> ExactIndex | AnnIndex | AutoIndex:
    """Open whichever index `save` wrote at `path`."""
    kind = _read_meta(path).get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown index kind {kind!r} at {path}")
    return _KINDS[kind].load(path)
