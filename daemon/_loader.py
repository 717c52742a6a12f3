"""Import the application named by ``--app package.module:attribute``."""

from __future__ import annotations

import importlib
import os
import sys

from actorgrid import App

from ._errors import AppLoadError

__all__ = ("load_app",)


def load_app(spec: str) -> App:
    """Import ``package.module:attribute`` (``attribute`` defaults to ``app``) and check it.

    The module's import runs its declarations, so an invalid one fails here, at start. The
    working directory is put first on ``sys.path`` (as ``python -m`` would), so an app in
    the directory the daemon starts from is found.

    Raises:
        AppLoadError: a malformed spec; the module cannot be imported (missing, or its
            import raised: the error is named); no such attribute; not an ``App``.
    """
    module_name, _, attribute = spec.strip().partition(":")
    attribute = attribute or "app"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise AppLoadError(spec, "expected 'package.module:attribute', e.g. 'examples.app:app'")
    if not attribute.isidentifier():
        raise AppLoadError(spec, f"{attribute!r} is not an attribute name")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name
        if missing is not None and (module_name + ".").startswith(missing + "."):
            problem = f"no module named {missing!r} (not installed, nor found from {here})"
        else:
            problem = f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        raise AppLoadError(spec, problem) from exc
    except Exception as exc:
        problem = f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        raise AppLoadError(spec, problem) from exc
    value = getattr(module, attribute, None)
    if value is None:
        raise AppLoadError(spec, f"module {module_name!r} has no attribute {attribute!r}")
    if not isinstance(value, App):
        kind = type(value).__name__
        problem = f"{module_name}.{attribute} is a {kind}, not an actorgrid.App"
        raise AppLoadError(spec, problem)
    return value
