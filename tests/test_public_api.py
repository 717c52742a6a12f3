"""The public surface: every public module declares what it exports, and the exports exist.

The rules, found by introspection so that new modules and exports are checked as they appear:

- A public non-package module (no underscore anywhere in its dotted name below ``actorgrid``)
  declares ``__all__`` as a tuple of unique strings; every entry exists, and every public
  class or function defined in the module is listed.
- A package ``__init__`` re-exports with ``from ._x import Y as Y``. If it declares ``__all__``,
  every entry exists and every re-export is listed; without ``__all__`` the re-exports are
  its public set. Either way each re-export resolves to the private module's object, a public
  name imported without ``as`` and not in ``__all__`` is flagged (type checkers would not
  treat it as exported), and the package binds no other public names.
- A private module that declares ``__all__`` lists every name its package re-exports from it.
- Nothing is importable as a bare top-level ``kernel``, ``actors``, ``storage`` or ``migrations``.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

PACKAGES = (
    "actorgrid.kernel",
    "actorgrid.actors",
    "actorgrid.storage",
    "actorgrid.migrations",
    "actorgrid.daemon",
)
# Alembic runs these as scripts (env.py needs a migration context even to import).
ALEMBIC_SCRIPTS = ("actorgrid.migrations.env", "actorgrid.migrations.versions")
FOLDERS = ("kernel", "actors", "storage", "migrations", "daemon")


@dataclass(frozen=True)
class RelativeImport:
    """One ``from .<module> import <name> [as <alias>]`` of a package ``__init__``."""

    module: str
    name: str
    alias: str | None
    line: int

    @property
    def bound(self) -> str:
        return self.alias or self.name

    @property
    def explicit(self) -> bool:
        return self.alias == self.name


def is_private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split(".")[1:])


def walk(roots: tuple[str, ...], skip: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Return (packages, public non-package modules) under ``roots``, roots included."""
    packages: list[str] = []
    modules: list[str] = []
    for root in roots:
        packages.append(root)
        package = importlib.import_module(root)
        for info in pkgutil.walk_packages(package.__path__, root + "."):
            if is_private(info.name) or any(
                info.name == s or info.name.startswith(s + ".") for s in skip
            ):
                continue
            (packages if info.ispkg else modules).append(info.name)
    return packages, modules


def relative_imports(package: ModuleType) -> list[RelativeImport]:
    source = Path(inspect.getfile(package)).read_text(encoding="utf-8")
    found: list[RelativeImport] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            relative = "." * node.level + (node.module or "")
            base = importlib.util.resolve_name(relative, package.__name__)
            found.extend(
                RelativeImport(base, alias.name, alias.asname, node.lineno) for alias in node.names
            )
    return found


def declared_all(module: ModuleType, problems: list[str]) -> tuple[str, ...] | None:
    """Return ``__all__`` as a tuple (None when absent); report a malformed one."""
    value = module.__dict__.get("__all__")
    if value is None:
        return None
    if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{module.__name__}.__all__ is not a sequence of str")
        return ()
    if len(set(value)) != len(value):
        problems.append(f"{module.__name__}.__all__ has duplicates")
    missing = [item for item in value if not hasattr(module, item)]
    if missing:
        problems.append(f"{module.__name__}.__all__ lists names that do not exist: {missing}")
    return tuple(value)


def module_problems(module: ModuleType) -> list[str]:
    """Check a public non-package module against the rules in the module docstring."""
    name = module.__name__
    problems: list[str] = []
    exported = declared_all(module, problems)
    if exported is None:
        return [f"public module {name} has no __all__"]
    if not isinstance(module.__dict__["__all__"], tuple):
        problems.append(f"{name}.__all__ should be a tuple")
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == name
    }
    unlisted = sorted(defined - set(exported))
    if unlisted:
        problems.append(f"{name} defines public names missing from __all__: {unlisted}")
    return problems


def package_problems(package: ModuleType) -> list[str]:
    """Check a package ``__init__`` against the rules in the module docstring."""
    name = package.__name__
    problems: list[str] = []
    exported = declared_all(package, problems)
    imports = relative_imports(package)
    for r in imports:
        source = importlib.import_module(r.module)
        if not hasattr(source, r.name):
            problems.append(f"{name}: {r.module} has no {r.name}")
        elif getattr(package, r.bound, None) is not getattr(source, r.name):
            problems.append(f"{name}.{r.bound} is not {r.module}.{r.name}")
        listed = exported is not None and r.bound in exported
        if not r.explicit and not r.bound.startswith("_") and not listed:
            problems.append(
                f"{name} line {r.line}: `from {r.module} import {r.name}` is not an explicit "
                f"re-export; write `{r.name} as {r.name}`"
            )
        if r.explicit and exported is not None and not listed:
            problems.append(f"{name} re-exports {r.bound} but __all__ does not list it")
        source_all = declared_all(source, problems)
        if source_all is not None and r.name not in source_all:
            problems.append(f"{r.module}.__all__ does not list {r.name}, which {name} exports")
    declared = set(exported) if exported is not None else {r.bound for r in imports if r.explicit}
    bound = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_") and not isinstance(value, ModuleType | __future__._Feature)
    }
    extra = sorted(bound - declared)
    if extra:
        problems.append(f"{name} binds public names it does not declare: {extra}")
    return sorted(set(problems))


PUBLIC_PACKAGES, PUBLIC_MODULES = walk(PACKAGES, skip=ALEMBIC_SCRIPTS)


class TestActorgridSurface:
    def test_the_packages_and_rooms_are_walked(self) -> None:
        """The walk found the packages and every room, so it cannot pass vacuously."""
        rooms = {
            f"actorgrid.actors.{room}"
            for room in (
                "analytics",
                "broker",
                "retry",
                "dead_letters",
                "patterns",
                "patterns.index",
                "patterns.embedders",
                "runtime",
            )
        }
        assert set(PACKAGES) | rooms <= set(PUBLIC_PACKAGES)

    @pytest.mark.parametrize("name", PUBLIC_MODULES)
    def test_public_module(self, name: str) -> None:
        """A public module has a tuple ``__all__`` that matches what it defines."""
        assert module_problems(importlib.import_module(name)) == []

    @pytest.mark.parametrize("name", PUBLIC_PACKAGES)
    def test_package(self, name: str) -> None:
        """A package re-exports explicitly, its exports resolve and agree with any __all__."""
        assert package_problems(importlib.import_module(name)) == []


FIXTURE = "agfixture_surface"
FIXTURE_FILES = {
    "__init__.py": (
        "from __future__ import annotations\n"
        "from os import sep\n"
        "from ._impl import Good as Good\n"
        "from ._impl import Implicit\n"
        "from ._impl import Renamed as Other\n"
        "from ._listed import Unlisted as Unlisted\n"
    ),
    "_impl.py": "class Good: ...\nclass Implicit: ...\nclass Renamed: ...\n",
    "_listed.py": "__all__ = ('Absent',)\nclass Unlisted: ...\n",
    "noall.py": "def helper() -> None: ...\n",
    "listall.py": "__all__ = ['one', 'ghost']\ndef one() -> None: ...\ndef two() -> None: ...\n",
    "fine.py": "__all__ = ('one',)\ndef one() -> None: ...\ndef _hidden() -> None: ...\n",
    "withall/__init__.py": (
        "from .._impl import Good as Good\nfrom .._impl import Implicit\n"
        "__all__ = ('Implicit', 'Missing')\n"
    ),
}


@pytest.fixture
def fixture_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for relative, text in FIXTURE_FILES.items():
        path = tmp_path / FIXTURE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield FIXTURE
    for name in [m for m in sys.modules if m == FIXTURE or m.startswith(FIXTURE + ".")]:
        del sys.modules[name]


class TestRulesCatchViolations:
    def test_walk_skips_private_modules(self, fixture_package: str) -> None:
        """The walk lists public modules and subpackages only."""
        packages, modules = walk((fixture_package,))
        assert packages == [FIXTURE, f"{FIXTURE}.withall"]
        assert sorted(modules) == [f"{FIXTURE}.fine", f"{FIXTURE}.listall", f"{FIXTURE}.noall"]

    def test_module_without_all(self, fixture_package: str) -> None:
        """A public module without __all__ is reported."""
        module = importlib.import_module(f"{fixture_package}.noall")
        assert module_problems(module) == [f"public module {FIXTURE}.noall has no __all__"]

    def test_module_all_disagreeing_with_definitions(self, fixture_package: str) -> None:
        """A list __all__, a ghost entry and an unlisted public function are each reported."""
        module = importlib.import_module(f"{fixture_package}.listall")
        problems = module_problems(module)
        assert any("do not exist: ['ghost']" in p for p in problems)
        assert any("should be a tuple" in p for p in problems)
        assert any("missing from __all__: ['two']" in p for p in problems)

    def test_good_module_passes(self, fixture_package: str) -> None:
        """A module that follows the rules has no problems."""
        assert module_problems(importlib.import_module(f"{fixture_package}.fine")) == []

    def test_package_without_all(self, fixture_package: str) -> None:
        """Implicit imports, renamed imports, stray bindings and private __all__ gaps show."""
        problems = package_problems(importlib.import_module(fixture_package))
        text = "\n".join(problems)
        assert "`from agfixture_surface._impl import Implicit` is not an explicit" in text
        assert "`from agfixture_surface._impl import Renamed` is not an explicit" in text
        assert "binds public names it does not declare: ['Implicit', 'Other', 'sep']" in text
        assert "_listed.__all__ does not list Unlisted" in text
        assert "_listed.__all__ lists names that do not exist: ['Absent']" in text
        assert not any("Good" in p for p in problems)

    def test_package_with_all(self, fixture_package: str) -> None:
        """With __all__: a missing entry and an unlisted re-export are reported."""
        problems = package_problems(importlib.import_module(f"{fixture_package}.withall"))
        text = "\n".join(problems)
        assert "lists names that do not exist: ['Missing']" in text
        assert "re-exports Good but __all__ does not list it" in text
        assert "Implicit" not in text.replace("['Missing']", "")


class TestImportRoots:
    def test_no_bare_top_level_packages(self, tmp_path: Path) -> None:
        """From a fresh interpreter elsewhere, only ``actorgrid.<pkg>`` imports, never ``<pkg>``."""
        script = (
            "import importlib.util, json\n"
            f"folders = {FOLDERS!r}\n"
            "print(json.dumps({\n"
            "    'bare': {f: importlib.util.find_spec(f) is not None for f in folders},\n"
            "    'namespaced': {\n"
            "        f: importlib.util.find_spec('actorgrid.' + f) is not None for f in folders\n"
            "    },\n"
            "}))\n"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        # An empty tmp_path rather than /tmp itself: a stray /tmp/kernel must not matter.
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        found = json.loads(result.stdout)
        assert found["namespaced"] == dict.fromkeys(FOLDERS, True)
        assert found["bare"] == dict.fromkeys(FOLDERS, False)


def type_checking_imports(module: ModuleType) -> dict[str, str]:
    """Return ``{bound name: absolute source module}`` of the ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(Path(inspect.getfile(module)).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                relative = "." * statement.level + (statement.module or "")
                source = importlib.util.resolve_name(relative, module.__name__)
                for alias in statement.names:
                    assert alias.asname == alias.name, f"{alias.name} is not an explicit re-export"
                    found[alias.name] = source
    return found


def protocol_messages() -> dict[str, type]:
    """Every public kernel ``Message`` subclass defined under ``actorgrid.actors``, by home."""
    from actorgrid.kernel import Message

    packages, _ = walk(("actorgrid.actors",))
    found: dict[str, type] = {}
    for name in packages:
        for attr, value in vars(importlib.import_module(name)).items():
            if inspect.isclass(value) and issubclass(value, Message) and not attr.startswith("_"):
                found[f"{name}.{attr}"] = value
    return found


class TestApplicationFace:
    """``actorgrid`` itself: the application API, lazily loaded, and nothing else."""

    def test_every_name_resolves_to_its_home(self) -> None:
        """Each name of ``__all__`` has a home face, loads from it, and is that object."""
        import actorgrid

        homes: dict[str, str] = actorgrid._HOMES
        assert isinstance(actorgrid.__all__, tuple)
        assert len(set(actorgrid.__all__)) == len(actorgrid.__all__)
        assert set(homes) == set(actorgrid.__all__)
        for name in actorgrid.__all__:
            home = importlib.import_module(homes[name], "actorgrid")
            assert name in home.__all__, f"{name} is not public in {home.__name__}"
            assert getattr(actorgrid, name) is getattr(home, name)

    def test_type_checkers_see_the_same_names(self) -> None:
        """The ``TYPE_CHECKING`` imports (what mypy sees) match ``__all__`` and the homes."""
        import actorgrid

        seen = type_checking_imports(actorgrid)
        expected = {
            name: importlib.util.resolve_name(home, "actorgrid")
            for name, home in actorgrid._HOMES.items()
        }
        assert seen == expected

    def test_unknown_names_raise_attribute_error(self) -> None:
        """A missing name is an AttributeError (so ``hasattr`` and ``from x import`` work)."""
        import actorgrid

        with pytest.raises(AttributeError, match="no attribute 'CanRetry'"):
            _ = actorgrid.CanRetry
        assert set(actorgrid.__all__) <= set(dir(actorgrid))

    def test_nothing_private_or_internal(self) -> None:
        """No private name, no kernel internals (actors, refs), no storage writer."""
        import actorgrid

        assert not [n for n in actorgrid.__all__ if n.startswith("_")]
        for name in ("Actor", "ActorRef", "Kernel", "StorageWriter", "RetryGate", "Broker"):
            assert name not in actorgrid.__all__

    def test_import_is_light(self, tmp_path: Path) -> None:
        """``import actorgrid`` and ``import actorgrid.kernel`` load no built-in actor."""
        script = (
            "import sys, json, actorgrid, actorgrid.kernel\n"
            "loaded = [m for m in sys.modules if m.startswith('actorgrid.actors')]\n"
            "print(json.dumps(sorted(loaded)))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(result.stdout) == []


class TestProtocolMessages:
    """Protocol messages are importable from their actor's room only."""

    def test_the_rooms_have_protocols(self) -> None:
        """The walk finds the rooms' requests, so the rule below is not vacuous."""
        homes = {name.rsplit(".", 1)[0] for name in protocol_messages()}
        assert {
            "actorgrid.actors.retry",
            "actorgrid.actors.dead_letters",
            "actorgrid.actors.patterns",
            "actorgrid.actors.broker",
        } <= homes

    def test_one_room_exports_each_message(self) -> None:
        """Each message is exported by the room whose module defines it, and by no other face."""
        by_class: dict[type, list[str]] = {}
        for qualified, cls in protocol_messages().items():
            by_class.setdefault(cls, []).append(qualified.rsplit(".", 1)[0])
        for cls, faces in by_class.items():
            assert len(faces) == 1, f"{cls.__qualname__} is exported by {faces}"
            assert cls.__module__.startswith(faces[0] + "._"), (cls.__module__, faces)

    def test_not_on_the_application_faces(self) -> None:
        """Neither ``actorgrid`` nor ``actorgrid.actors`` exports a protocol message."""
        import actorgrid
        import actorgrid.actors

        messages = set(protocol_messages().values())
        for face in (actorgrid, actorgrid.actors):
            leaked = [n for n in face.__all__ if getattr(face, n) in messages]
            assert leaked == [], f"{face.__name__} exports protocol messages {leaked}"
