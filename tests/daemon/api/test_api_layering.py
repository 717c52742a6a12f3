"""The API uses the runtime's public face only: ``actorgrid`` itself, nothing below it."""

from __future__ import annotations

import ast
from pathlib import Path

import actorgrid.daemon.api

API = Path(actorgrid.daemon.api.__file__).parent


def test_the_api_imports_only_the_application_face() -> None:
    found: list[str] = []
    for path in sorted(API.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found.extend(
                f"{path.name}: {name}"
                for name in names
                if name.startswith("actorgrid.") and not name.startswith("actorgrid.daemon")
            )
    assert found == []
    assert len(list(API.glob("_*.py"))) >= 10
