"""The ``reference_chunks`` table as the pattern engine uses it: statements, rows, paged reads.

The pattern engine is the only writer of this table. It picks chunk ids itself (they are
also the labels in the vector index), so an insert needs no ``RETURNING`` and a batch of
chunks goes to the group-commit writer as one submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import bindparam, delete, insert, or_, select, update

from actorgrid.storage import Base, Op, read_connection

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = (
    "Chunk",
    "delete_op",
    "insert_op",
    "metadata_op",
    "read_chunks",
    "retag_op",
)

_TABLE: Final = Base.metadata.tables["reference_chunks"]
_INSERT: Final = insert(_TABLE)
_UPDATE_META: Final = (
    update(_TABLE).where(_TABLE.c.id == bindparam("b_id")).values(metadata=bindparam("b_meta"))
)
_DELETE: Final = delete(_TABLE).where(_TABLE.c.id == bindparam("b_id"))
_RETAG: Final = (
    update(_TABLE)
    .where(or_(_TABLE.c.embedder != bindparam("b_embedder"), _TABLE.c.dim != bindparam("b_dim")))
    .values(embedder=bindparam("b_embedder"), dim=bindparam("b_dim"))
)
_PAGE_SQL: Final = (
    select(
        _TABLE.c.id,
        _TABLE.c.source,
        _TABLE.c.text,
        _TABLE.c.metadata,
        _TABLE.c.embedder,
        _TABLE.c.dim,
        _TABLE.c.created_at,
    )
    .where(_TABLE.c.id > bindparam("after"))
    .order_by(_TABLE.c.id)
    .limit(bindparam("page"))
)


@dataclass(slots=True)
class Chunk:
    """A chunk as the engine keeps it in memory (the text, for replies and filters)."""

    id: int
    source: str
    text: str
    meta: dict[str, Any]
    created_at: float
    embedder: str = ""
    """The embedder the row says made its vector (as read; new chunks: the current one)."""
    dim: int = 0


def insert_op(chunk: Chunk, embedder: str, dim: int) -> Op:
    """Return the insert of ``chunk`` (made by ``embedder`` at ``dim``)."""
    return Op(
        _INSERT,
        {
            "id": chunk.id,
            "source": chunk.source,
            "text": chunk.text,
            "metadata": chunk.meta,
            "embedder": embedder,
            "dim": dim,
            "created_at": chunk.created_at,
        },
    )


def metadata_op(chunk_id: int, meta: dict[str, Any]) -> Op:
    """Return the update that replaces one chunk's metadata."""
    return Op(_UPDATE_META, {"b_id": chunk_id, "b_meta": meta})


def delete_op(chunk_id: int) -> Op:
    """Return the delete of one chunk."""
    return Op(_DELETE, {"b_id": chunk_id})


def retag_op(embedder: str, dim: int) -> Op:
    """Return the update that marks every row as embedded by ``embedder`` at ``dim``."""
    return Op(_RETAG, {"b_embedder": embedder, "b_dim": dim})


async def read_chunks(engine: AsyncEngine, page: int = 5000) -> list[Chunk]:
    """Read every chunk, in id order, one short read per page.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the table cannot be read.
    """
    chunks: list[Chunk] = []
    after = -1
    while True:
        async with read_connection(engine) as conn:
            rows = (await conn.execute(_PAGE_SQL, {"after": after, "page": page})).all()
        for cid, source, text, meta, embedder, dim, created_at in rows:
            chunks.append(
                Chunk(
                    int(cid),
                    source,
                    text,
                    meta if isinstance(meta, dict) else {},
                    float(created_at),
                    embedder,
                    int(dim),
                )
            )
        if len(rows) < page:
            return chunks
        after = chunks[-1].id
