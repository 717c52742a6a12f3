"""Files of a saved vector index: the hnswlib graph and a JSON sidecar that vouches for it.

``<path>`` holds hnswlib's own serialisation; ``<path>.meta.json`` holds the format version,
the embedder name, the dimension, the live ids, which of them are aliases of an identical
vector in the graph (not in the graph themselves), and a SHA-256 of the graph file. Both are
written to temporary files and moved into place with ``os.replace``, graph first: a crash in
between leaves a sidecar whose checksum no longer matches, which loading reports as
:class:`IndexCorrupt`, never as a silently wrong index.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import hnswlib
import msgspec
import numpy as np
import numpy.typing as npt

from ..._exceptions import IndexCorrupt, IndexMismatch

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = (
    "FORMAT_VERSION",
    "IndexMeta",
    "LoadedIndex",
    "meta_path",
    "read_index",
    "write_index",
)

FORMAT_VERSION = 2
"""Version of the sidecar layout written now; version 1 (no aliases) is still read. A sidecar
of any other version is rebuilt, not read."""
_READABLE = (1, 2)


class IndexMeta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Contents of the ``.meta.json`` sidecar."""

    format: int
    embedder: str
    dim: int
    space: str
    count: int
    """Live items; equals ``len(ids)``."""
    ids: list[int]
    """Live ids, in the order of the exact-search matrix."""
    index_sha256: str
    index_bytes: int
    aliases: list[tuple[int, int]] = msgspec.field(default_factory=list)
    """``(alias, representative)`` for live ids whose vector is in the graph under another id."""
    keys: list[tuple[int, int]] = msgspec.field(default_factory=list)
    """``(id, key)``: the hash of the vector each representative was added with, so that a
    copy added after loading still finds it (the stored vector differs in its last bits)."""


_meta_decoder = msgspec.json.Decoder(IndexMeta)
_meta_encoder = msgspec.json.Encoder()


def meta_path(path: str | os.PathLike[str]) -> Path:
    """Return the sidecar path that belongs to the graph file at ``path``."""
    p = Path(path)
    return p.with_name(p.name + ".meta.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_index(
    path: str | os.PathLike[str],
    hnsw: Any,
    *,
    embedder: str,
    dim: int,
    ids: Sequence[int],
    aliases: Sequence[tuple[int, int]] = (),
    keys: Sequence[tuple[int, int]] = (),
) -> None:
    """Save ``hnsw`` and its sidecar atomically (each file is replaced whole or not at all).

    Args:
        path: Where the graph file goes; the sidecar goes beside it.
        hnsw: The ``hnswlib.Index`` to save.
        embedder: Name of the embedder whose vectors the index holds.
        dim: Vector dimension.
        ids: Live ids in matrix order.
        aliases: ``(alias, representative)`` for live ids that are not in the graph.
        keys: ``(id, key)``, the duplicate-detection key of each representative.

    Raises:
        OSError: The files could not be written; an earlier saved index is left as it was.
    """
    target = Path(path)
    meta_target = meta_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp-{os.getpid()}"
    tmp_index = target.with_name(target.name + suffix)
    tmp_meta = meta_target.with_name(meta_target.name + suffix)
    try:
        hnsw.save_index(str(tmp_index))
        _fsync(tmp_index)
        meta = IndexMeta(
            format=FORMAT_VERSION,
            embedder=embedder,
            dim=dim,
            space="cosine",
            count=len(ids),
            ids=list(ids),
            index_sha256=_sha256(tmp_index),
            index_bytes=tmp_index.stat().st_size,
            aliases=list(aliases),
            keys=list(keys),
        )
        with tmp_meta.open("wb") as f:
            f.write(_meta_encoder.encode(meta))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_index, target)
        os.replace(tmp_meta, meta_target)
    finally:
        for tmp in (tmp_index, tmp_meta):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    with contextlib.suppress(OSError):
        _fsync(target.parent)


class LoadedIndex(NamedTuple):
    """What :func:`read_index` returns."""

    hnsw: Any
    """The ``hnswlib.Index``, loaded with deleted slots reusable."""
    ids: list[int]
    """Live ids, in the order of ``vectors``."""
    vectors: npt.NDArray[np.float32]
    """Unit vectors of the live ids, one row each."""
    stale: set[int]
    """Labels hnswlib still holds for deleted items."""
    aliases: list[tuple[int, int]]
    """``(alias, representative)`` pairs; aliases are live but not in the graph."""
    keys: dict[int, int]
    """Duplicate-detection key of each representative that has one."""


def read_index(path: str | os.PathLike[str], *, embedder: str, dim: int) -> LoadedIndex:
    """Load a saved index after checking that it is whole and was built for this setup.

    Args:
        path: The graph file written by :func:`write_index`.
        embedder: Name of the embedder in use now.
        dim: Vector dimension in use now.

    Returns:
        The graph, the live ids with their unit vectors, and the deleted labels.

    Raises:
        IndexMismatch: The index was built by another embedder, for another dimension, or
            with another sidecar format.
        IndexCorrupt: A file is missing or unreadable, the checksum is wrong, or the graph
            does not hold the ids the sidecar lists.
    """
    target = Path(path)
    meta_file = meta_path(target)
    where = str(target)
    if not target.is_file():
        raise IndexCorrupt(where, "index file is missing")
    if not meta_file.is_file():
        raise IndexCorrupt(where, f"sidecar {meta_file.name} is missing")
    try:
        raw = meta_file.read_bytes()
        version = msgspec.json.decode(raw, type=dict[str, Any]).get("format")
    except (OSError, msgspec.DecodeError) as exc:
        raise IndexCorrupt(where, f"sidecar is unreadable: {exc}") from exc
    if version not in _READABLE:
        raise IndexMismatch(where, "sidecar format", FORMAT_VERSION, version)
    try:
        meta = _meta_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise IndexCorrupt(where, f"sidecar is invalid: {exc}") from exc
    if meta.embedder != embedder:
        raise IndexMismatch(where, "embedder", embedder, meta.embedder)
    if meta.dim != dim:
        raise IndexMismatch(where, "dimension", dim, meta.dim)
    if meta.count != len(meta.ids) or len(set(meta.ids)) != len(meta.ids):
        raise IndexCorrupt(where, "sidecar ids do not match its count or repeat")
    live = set(meta.ids)
    alias_of = dict(meta.aliases)
    reps = live - alias_of.keys()
    if len(alias_of) != len(meta.aliases) or not (
        alias_of.keys() <= live and set(alias_of.values()) <= reps
    ):
        raise IndexCorrupt(where, "sidecar aliases do not pair live aliases with live ids")
    keys = dict(meta.keys)
    if not keys.keys() <= reps:
        raise IndexCorrupt(where, "sidecar keys name ids that are not live in the graph")
    try:
        size = target.stat().st_size
        digest = _sha256(target)
    except OSError as exc:
        raise IndexCorrupt(where, f"index file is unreadable: {exc}") from exc
    if size != meta.index_bytes or digest != meta.index_sha256:
        raise IndexCorrupt(where, "checksum does not match the sidecar")
    hnsw = hnswlib.Index(space="cosine", dim=dim)
    try:
        hnsw.load_index(str(target), max_elements=0, allow_replace_deleted=True)
        labels = set(hnsw.get_ids_list())
    except RuntimeError as exc:
        raise IndexCorrupt(where, f"hnswlib cannot load it: {exc}") from exc
    if not reps <= labels:
        raise IndexCorrupt(where, "the graph lacks ids the sidecar lists")
    vectors = np.zeros((len(meta.ids), dim), np.float32)
    rep_rows = [row for row, label in enumerate(meta.ids) if label not in alias_of]
    if rep_rows:
        rep_ids = [meta.ids[r] for r in rep_rows]
        items = _stored_vectors(target, hnsw, rep_ids, dim)
        if items is None:
            try:
                items = np.asarray(hnsw.get_items(rep_ids), np.float32)
            except RuntimeError as exc:
                raise IndexCorrupt(where, f"a listed id is deleted in the graph: {exc}") from exc
        vectors[rep_rows] = items / np.linalg.norm(items, axis=1, keepdims=True)
    if alias_of:
        row_of = {label: row for row, label in enumerate(meta.ids)}
        for alias, rep in alias_of.items():
            vectors[row_of[alias]] = vectors[row_of[rep]]
    return LoadedIndex(hnsw, meta.ids, vectors, labels - reps, list(meta.aliases), keys)


# The header hnswlib (0.7, 0.8) writes before the level-0 block: offsetLevel0, max_elements,
# cur_element_count, size_data_per_element, label_offset, offsetData (size_t each), maxlevel
# (int), enterpoint_node (uint32), maxM, maxM0, M (size_t), mult (double), ef_construction.
_HNSW_HEADER = struct.Struct("<6QiI3QdQ")
_CHECKED = 8
"""Vectors compared with ``get_items`` before the file's own copies are trusted."""


def _stored_vectors(
    path: Path, hnsw: Any, ids: Sequence[int], dim: int
) -> npt.NDArray[np.float32] | None:
    """Read the vectors of ``ids`` straight from the graph file, or ``None`` if unsure.

    ``hnswlib.Index.get_items`` copies one element at a time (about 1 s per 30,000 vectors
    of dimension 384), which made loading a large index slow; the file holds the same bytes
    in one block. The layout is hnswlib's, not a published format, so the header is
    checked for sense and a sample is compared with ``get_items``; on any doubt the caller
    falls back to ``get_items``.
    """
    try:
        with path.open("rb") as f:
            header = f.read(_HNSW_HEADER.size)
        offset0, _, count, per, label_at, data_at, *_ = _HNSW_HEADER.unpack(header)
        if offset0 != 0 or not (data_at > 0 and data_at + 4 * dim <= label_at <= per - 8):
            return None
        block = np.memmap(path, np.uint8, "r", offset=_HNSW_HEADER.size, shape=(count, per))
        labels = np.ascontiguousarray(block[:, label_at : label_at + 8]).view("<u8").ravel()
        slot_of = {int(label): slot for slot, label in enumerate(labels.tolist())}
        if len(slot_of) != count:
            return None  # a label in two slots: let hnswlib say which one is live
        slots = np.fromiter((slot_of[i] for i in ids), np.int64, len(ids))
        out = np.ascontiguousarray(block[slots, data_at : data_at + 4 * dim]).view("<f4")
        del block
    except (OSError, ValueError, KeyError, struct.error):
        return None
    sample = np.linspace(0, len(ids) - 1, min(_CHECKED, len(ids))).astype(np.int64)
    try:
        expected = np.asarray(hnsw.get_items([ids[i] for i in sample]), np.float32)
    except RuntimeError:
        return None
    if not np.array_equal(expected, out[sample]):
        return None
    return out.astype(np.float32, copy=False)
