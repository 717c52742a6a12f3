"""EXPLAIN QUERY PLAN of a statement on a real SQLite file (shared by actor tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from sqlalchemy.sql.expression import Executable


def fetch(
    path: Path, statement: Executable, params: Mapping[str, Any], *, prefix: str = ""
) -> list[tuple[Any, ...]]:
    """Run ``statement`` on the file through a plain sync engine, its SQL after ``prefix``."""
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.NullPool)

    @sa.event.listens_for(engine, "before_cursor_execute", retval=True)
    def _prefixed(*args: Any) -> tuple[str, Any]:
        return prefix + args[2], args[3]

    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(statement, dict(params))]
    finally:
        engine.dispose()


def query_plan(path: Path, statement: Executable, params: Mapping[str, Any]) -> list[str]:
    """Return the detail column of SQLite's query plan of ``statement`` with ``params``."""
    rows = fetch(path, statement, params, prefix="EXPLAIN QUERY PLAN ")
    return [str(row[3]) for row in rows]


def uses_index_only(plan: list[str], table: str, index: str, search: str) -> bool:
    """Whether ``plan`` searches ``table`` through ``index`` on the ``search`` constraints
    (as SQLite prints them: ``"state=? AND available_at<?"``), never scans it, never sorts."""
    searched = any(
        line.startswith(f"SEARCH {table} USING ") and line.endswith(f"INDEX {index} ({search})")
        for line in plan
    )
    scanned = any(line.startswith(f"SCAN {table}") for line in plan)
    sorted_ = any("TEMP B-TREE" in line for line in plan)
    return searched and not scanned and not sorted_
