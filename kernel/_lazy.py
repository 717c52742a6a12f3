"""Lazy names for a package's face (PEP 562): a name whose module is costly to import (numpy,
hnswlib, a model) is imported on first use, not with the face.

A face keeps its names under ``typing.TYPE_CHECKING`` for the type checker and hands the
rest to :func:`lazy_names`::

    __getattr__, __dir__ = lazy_names(__name__, {"VectorIndex": "._vector_index"}, __all__)
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

__all__ = ("lazy_names",)


def lazy_names(
    package: str, homes: Mapping[str, str], exported: Collection[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` of ``package``'s face.

    Args:
        package: the face's ``__name__``.
        homes: each lazy name and the module (relative to ``package``) that defines it.
        exported: the face's ``__all__``, listed by ``dir()`` before they are loaded.
    """

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exported})

    return getattr_, dir_
