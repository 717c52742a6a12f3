"""Helpers of the page handlers: rendering a page, answering an action, showing times."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from litestar.response import Redirect, Template

__all__ = ("ago", "clean", "done", "page", "when")


def page(name: str, nav: str, **context: Any) -> Template:
    """Render template ``name`` with the layout's ``nav`` entry marked current."""
    return Template(template_name=name, context={"nav": nav, **context})


def done(path: str, msg: str, **query: str | None) -> Redirect:
    """The answer to an action: back to ``path`` (303, so a reload does not repeat it),
    with ``msg`` shown there."""
    params = {k: v for k, v in query.items() if v} | {"msg": msg}
    return Redirect(f"{path}?{urlencode(params)}", status_code=303)


def clean(value: Any) -> str | None:
    """A query or form field as a filter: blank is no filter."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def when(epoch: float | None) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` UTC (``-`` for none)."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(epoch: float | None, now: float) -> str:
    """How far ``epoch`` is from ``now``: ``in 12 s``, ``3 min ago``."""
    if epoch is None:
        return ""
    delta = epoch - now
    size = abs(delta)
    if size < 90:
        text = f"{size:.0f} s"
    elif size < 5400:
        text = f"{size / 60:.0f} min"
    elif size < 129_600:
        text = f"{size / 3600:.0f} h"
    else:
        text = f"{size / 86400:.0f} d"
    return f"in {text}" if delta >= 0 else f"{text} ago"
