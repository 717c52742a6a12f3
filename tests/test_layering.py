"""The import layering: the kernel's modules form a DAG, and the rooms import each other
only through their faces, in the order ``docs/architecture.md`` draws.

Imports are read from the source, so the rules hold without importing anything. Imports
under ``if TYPE_CHECKING:`` are type-only and do not count.
"""

from __future__ import annotations

import ast
import importlib.util
from graphlib import CycleError, TopologicalSorter
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["actorgrid", *parts])


def runtime_imports(path: Path, name: str | None = None) -> set[str]:
    """The ``actorgrid`` modules that ``path`` (module ``name``) imports at run time."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                visit(node.orelse)
                continue
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom):
                    base = "." * child.level + (child.module or "")
                    target = importlib.util.resolve_name(base, package) if child.level else base
                    if target.startswith("actorgrid"):
                        found.add(target)
                        # ``from . import _x`` names a module, not an attribute.
                        found.update(f"{target}.{a.name}" for a in child.names)
                elif isinstance(child, ast.Import):
                    found.update(a.name for a in child.names if a.name.startswith("actorgrid"))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def graph(folder: str) -> dict[str, set[str]]:
    """``{module: modules of the same folder it imports at run time}``."""
    paths = sorted((ROOT / folder).rglob("*.py"))
    names = {module_name(p) for p in paths}
    return {module_name(p): runtime_imports(p) & names - {module_name(p)} for p in paths}


def test_imports_are_found() -> None:
    """The reader sees the kernel's real edges, so the DAG test cannot pass on an empty graph."""
    edges = graph("kernel")
    assert "actorgrid.kernel._cell" in edges["actorgrid.kernel._supervisor"]
    assert "actorgrid.kernel._mailbox" in edges["actorgrid.kernel._ref"]


def test_type_only_imports_do_not_count(tmp_path: Path) -> None:
    """An import under ``if TYPE_CHECKING:`` is not an edge; one at top level is."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from actorgrid.kernel import _ref\n"
        "if TYPE_CHECKING:\n"
        "    from actorgrid.kernel._cell import ActorCell\n",
        encoding="utf-8",
    )
    found = runtime_imports(source, "actorgrid.kernel.probe")
    assert "actorgrid.kernel._ref" in found
    assert "actorgrid.kernel._cell" not in found


def test_a_cycle_is_detected() -> None:
    """The check used below reports a circle."""
    with pytest.raises(CycleError):
        tuple(TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())


@pytest.mark.parametrize("folder", ["kernel", "storage", "actors"])
def test_runtime_imports_form_a_dag(folder: str) -> None:
    """No module of the folder needs itself, however indirectly, at import time."""
    edges = {name: deps for name, deps in graph(folder).items() if not name.endswith("__init__")}
    # A package imports its own modules to re-export them; that is the face, not a cycle.
    for name in edges:
        edges[name] = {d for d in edges[name] if not name.startswith(d + ".")}
    tuple(TopologicalSorter(edges).static_order())


ROOMS = ("retry", "patterns", "dead_letters", "broker", "analytics", "runtime")
ALLOWED = {
    "retry": set(),
    "patterns": set(),
    "dead_letters": {"retry"},
    "broker": {"dead_letters", "retry", "patterns"},
    "analytics": {"broker"},
    "runtime": {"broker", "dead_letters", "retry", "patterns", "analytics"},
}


def room_of(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "actors" and parts[2] in ROOMS:
        return parts[2]
    return None


@pytest.mark.parametrize("room", ROOMS)
def test_rooms_talk_through_faces_in_order(room: str) -> None:
    """A room imports another room's face only (never its private modules), as allowed."""
    problems: list[str] = []
    for path in sorted((ROOT / "actors" / room).rglob("*.py")):
        for target in runtime_imports(path):
            other = room_of(target)
            if other is None or other == room:
                continue
            if other not in ALLOWED[room]:
                problems.append(f"{module_name(path)} imports the {other} room")
            elif "._" in target.removeprefix(f"actorgrid.actors.{other}"):
                problems.append(f"{module_name(path)} reaches into {target}")
    assert problems == []


DAEMON_MAY_USE = ("actorgrid", "actorgrid.kernel", "actorgrid.storage")
"""The faces the daemon builds on (``actorgrid.daemon`` itself aside)."""


def test_the_daemon_uses_public_faces_only() -> None:
    """``daemon/`` imports the application face, the kernel's and storage's faces (names in
    their ``__all__``) and itself; never a module below them, never a built-in actor's room."""
    exported = {f"{face}.{name}" for face in DAEMON_MAY_USE for name in import_module(face).__all__}
    problems: list[str] = []
    paths = sorted((ROOT / "daemon").rglob("*.py"))
    assert len(paths) > 5
    for path in paths:
        for target in runtime_imports(path):
            ours = target == "actorgrid.daemon" or target.startswith("actorgrid.daemon.")
            if not ours and target not in DAEMON_MAY_USE and target not in exported:
                problems.append(f"{module_name(path)} imports {target}")
    assert problems == []
