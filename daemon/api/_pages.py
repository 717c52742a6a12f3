"""Shapes shared by the routes: pages, lists and id answers."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

__all__ = ("Ids", "Items", "Page")

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a listing; pass ``next`` as ``cursor`` for the next page."""

    items: list[T]
    next: str | None
    total: int | None = None
    """How many match in all pages, where it is known."""


class Items(msgspec.Struct, Generic[T], frozen=True):
    """A whole (short) list."""

    items: list[T]


class Ids(msgspec.Struct, frozen=True):
    """The ids of what was created, in order."""

    ids: list[str]
