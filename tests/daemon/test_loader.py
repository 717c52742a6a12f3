"""Loading ``--app package.module:attribute`` (daemon/_loader.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actorgrid import App
from actorgrid.daemon import AppLoadError, ExitCode, load_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MODULES = {
    "agapp_good.py": "from actorgrid import App\napp = App('good')\nother = App('other')\n",
    "agapp_broken.py": "from actorgrid import App\napp = App('b')\napp.topic('')\n",
    "agapp_imports.py": "import agapp_not_installed\n",
    "agapp_plain.py": "app = 42\n",
}


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in MODULES:
        monkeypatch.delitem(__import__("sys").modules, name.removesuffix(".py"), raising=False)


@pytest.mark.usefixtures("modules")
class TestLoadApp:
    def test_module_and_attribute(self) -> None:
        """``module:attribute`` and ``module`` alone (attribute ``app``) load the App."""
        assert isinstance(load_app("agapp_good:other"), App)
        assert load_app("agapp_good").name == "good"

    @pytest.mark.parametrize(
        ("spec", "text"),
        [
            ("agapp_missing:app", "no module named 'agapp_missing'"),
            ("agapp_broken:app", "importing module 'agapp_broken' failed: InvalidArgument"),
            ("agapp_imports:app", "importing module 'agapp_imports' failed: ModuleNotFound"),
            ("agapp_good:nope", "module 'agapp_good' has no attribute 'nope'"),
            ("agapp_plain:app", "agapp_plain.app is a int, not an actorgrid.App"),
            ("not a module:app", "expected 'package.module:attribute'"),
            ("agapp_good:1x", "'1x' is not an attribute name"),
        ],
    )
    def test_what_cannot_be_loaded_is_named(self, spec: str, text: str) -> None:
        """Each failure names the spec, the module and the problem; exit code 2."""
        with pytest.raises(AppLoadError) as caught:
            load_app(spec)
        assert text in str(caught.value)
        assert repr(spec) in str(caught.value)
        assert caught.value.exit_code == ExitCode.USAGE
