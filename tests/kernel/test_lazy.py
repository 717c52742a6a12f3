"""``lazy_names``: a face's costly names load on first use, once."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

import pytest

from actorgrid.kernel import lazy_names

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def face() -> Iterator[types.ModuleType]:
    """A face ``lazyface`` whose ``dumps`` lives in the stdlib's ``json`` (absolute home)."""
    module = types.ModuleType("lazyface")
    module.__getattr__, module.__dir__ = lazy_names(  # type: ignore[method-assign]
        "lazyface", {"dumps": "json"}, ("dumps", "eager")
    )
    module.eager = 1  # type: ignore[attr-defined]
    sys.modules["lazyface"] = module
    yield module
    del sys.modules["lazyface"]


def test_a_lazy_name_loads_once_and_is_then_an_attribute(face: types.ModuleType) -> None:
    import json

    assert "dumps" not in vars(face)
    assert face.dumps is json.dumps
    assert vars(face)["dumps"] is json.dumps


def test_an_unknown_name_is_an_attribute_error(face: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="'lazyface' has no attribute 'nothing'"):
        _ = face.nothing


def test_dir_lists_the_exported_names_before_they_load(face: types.ModuleType) -> None:
    assert {"dumps", "eager"} <= set(dir(face))
    assert "dumps" not in vars(face)
