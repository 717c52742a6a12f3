"""Reference chunks (add one or many, search, delete) and recurring failure patterns."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Router, delete, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from actorgrid import ChunkInput, RecurringPattern, Reference

from ._context import Ctx
from ._errors import ApiError
from ._pages import Items

__all__ = ("AddChunks", "ChunkIds", "NewChunk", "chunks_router", "patterns_router")


class NewChunk(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A reference chunk to store and index."""

    text: str
    source: str
    """Where it comes from (``runbook``, a document name); ``failure`` is reserved."""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class AddChunks(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Chunks to add in one transaction."""

    chunks: list[NewChunk]


class ChunkIds(msgspec.Struct, frozen=True):
    """The new chunks' ids, in order."""

    ids: list[int]


@post("/", status_code=201, summary="Add reference chunks")
async def add_chunks(ctx: Ctx, data: JSONBody[AddChunks]) -> ChunkIds:
    """Store and index the chunks (all or none)."""
    count = len(data.chunks)
    if count > ctx.settings.max_batch:
        raise ApiError(
            413,
            "batch_too_large",
            f"{count} chunks in one request; at most {ctx.settings.max_batch} are allowed",
        )
    if count == 0:
        raise ApiError(400, "empty_batch", "give at least one chunk")
    ids = await ctx.runtime.add_chunks(
        [ChunkInput(c.source, c.text, c.metadata) for c in data.chunks]
    )
    return ChunkIds(ids)


@get("/search", summary="Search reference chunks")
async def search_chunks(
    ctx: Ctx,
    q: Annotated[str, QueryParameter(min_length=1, max_length=10_000)],
    k: Annotated[int, QueryParameter(ge=1, le=100)] = 3,
    min_similarity: Annotated[float, QueryParameter(ge=-1.0, le=1.0)] = 0.0,
    source: Annotated[str | None, QueryParameter(min_length=1, max_length=255)] = None,
) -> Items[Reference]:
    """The ``k`` chunks most similar to ``q``, most similar first."""
    found = await ctx.runtime.search_chunks(q, k=k, min_similarity=min_similarity, source=source)
    return Items(found)


@delete("/{chunk_id:int}", status_code=204, summary="Delete a reference chunk")
async def delete_chunk(
    ctx: Ctx, chunk_id: Annotated[int, PathParameter(ge=0, le=2**63 - 1)]
) -> None:
    """Delete one chunk."""
    if not await ctx.runtime.delete_chunks([chunk_id]):
        raise ApiError(404, "chunk_not_found", f"no chunk {chunk_id}")


@get("/", summary="List recurring failure patterns")
async def list_patterns(ctx: Ctx) -> Items[RecurringPattern]:
    """The recurring failure patterns, most failures first."""
    return Items(await ctx.runtime.recurring_patterns())


def chunks_router() -> Router:
    """The reference chunks, under ``/v1/chunks``."""
    return Router(
        path="/v1/chunks",
        route_handlers=[add_chunks, search_chunks, delete_chunk],
        tags=["reference chunks"],
    )


def patterns_router() -> Router:
    """The recurring patterns, under ``/v1/patterns``."""
    return Router(path="/v1/patterns", route_handlers=[list_patterns], tags=["patterns"])
