"""Query and path parameter types shared by the routes (checked by Litestar: a bad one is
a 400 that names it)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

__all__ = ("Cursor", "Key", "Limit", "MessageId", "Text")

Key = Annotated[str | None, QueryParameter(min_length=1, max_length=255)]
"""An optional filter on a name or a key (1 to 255 characters)."""
Text = Annotated[str | None, QueryParameter(min_length=1, max_length=255)]
"""Optional text to search for."""
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="items per page, 1 to 1000")]
Cursor = Annotated[
    str | None,
    QueryParameter(min_length=1, max_length=512, description="the `next` of the previous page"),
]
MessageId = Annotated[str, PathParameter(min_length=1, max_length=64)]
