"""Execution plans: a statement compiled once, and a cheap function from params to a DB-API row.

The writer's speed comes from here. SQLAlchemy's per-row parameter processing costs several
microseconds a row; a plan compiles the statement once per (statement, parameter keys) and
turns each params mapping into a positional tuple with an ``itemgetter`` plus the columns' own
bind processors (e.g. JSON), so a batch can go to the driver's ``executemany`` as is.

Statements the fast path cannot reproduce exactly (expanding/post-compile parameters,
RETURNING, escaped or callable binds, non-positional dialects) get a *slow* plan: their
params are kept as a dict and executed through SQLAlchemy itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import JSON, Boolean, String, TupleType

from ._engine import _json_encoder, _json_serializer
from ._exceptions import InvalidOp
from ._op import Op

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.type_api import TypeEngine

__all__ = ("Plan", "PlanCache")

_MAX_STATEMENTS: Final = 512
_MAX_KEY_SETS: Final = 32


class Plan:
    """One statement compiled for one set of parameter keys.

    Attributes:
        statement: The statement as the caller built it.
        sql: The compiled SQL string (positional parameters), for the fast path.
        fast: Whether rows are positional tuples for ``sql`` (else dicts for SQLAlchemy).
        nkeys: The number of parameter keys this plan was compiled for.
        convert: Turns a params mapping into the row to execute; raises ``KeyError`` when the
            mapping does not have this plan's keys.
        values_split: For an ``INSERT ... VALUES (?, ...)`` whose only parameters are that
            one VALUES tuple: the SQL before it, the tuple and the SQL after it, so many rows
            can go in one multi-row VALUES statement; else ``None``.
    """

    __slots__ = ("_many_sql", "convert", "fast", "nkeys", "sql", "statement", "values_split")

    def __init__(
        self,
        statement: Executable,
        sql: str,
        fast: bool,
        nkeys: int,
        convert: Callable[[Mapping[str, Any]], Any],
        values_split: tuple[str, str, str] | None = None,
    ) -> None:
        self.statement = statement
        self.sql = sql
        self.fast = fast
        self.nkeys = nkeys
        self.convert = convert
        self.values_split = values_split
        self._many_sql: dict[int, str] = {}

    def many_sql(self, rows: int) -> str:
        """Return the INSERT with ``rows`` VALUES tuples (only when ``values_split`` is set)."""
        sql = self._many_sql.get(rows)
        if sql is None:
            assert self.values_split is not None
            before, values, after = self.values_split
            sql = self._many_sql[rows] = before + ", ".join([values] * rows) + after
        return sql


class _StatementPlans:
    __slots__ = ("by_keys", "last", "statement")

    def __init__(self, statement: Executable, plan: Plan, keys: frozenset[str]) -> None:
        self.statement = statement
        self.last = plan
        self.by_keys = {keys: plan}


class PlanCache:
    """Plans per statement object and key set, compiled for one dialect.

    A statement is recognised by identity (callers build it once), and the cache keeps a
    reference to it so its id cannot be reused while cached. Bounded: the oldest statements
    are forgotten first.
    """

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._by_statement: dict[int, _StatementPlans] = {}

    def prepare_ops(self, ops: tuple[object, ...]) -> list[tuple[Plan, Any]]:
        """Return ``(plan, row)`` for each of ``ops``, in order (the writer's per-row hot path).

        Raises:
            InvalidOp: An item is not an :class:`Op`, its statement does not compile, a
                required parameter is missing or unknown, or a value cannot be converted.
        """
        items: list[tuple[Plan, Any]] = []
        by_statement = self._by_statement
        for op in ops:
            if type(op) is not Op:
                raise InvalidOp(op, f"expected an Op, got {type(op).__name__}")
            params = op.params
            # The entry holds the statement, so its id cannot be reused while it is cached.
            entry = by_statement.get(id(op.statement))
            if entry is not None:
                plan = entry.last
                # Same key count and every used key present means the same key set: a fast
                # plan either uses every key or checks the exact key set itself.
                if len(params) == plan.nkeys:
                    try:
                        items.append((plan, plan.convert(params)))
                        continue
                    except KeyError:
                        pass
                    except Exception as exc:
                        raise _conversion_error(op.statement, exc) from exc
            items.append(self._prepare_slow(op.statement, params))
        return items

    def _prepare_slow(self, statement: Executable, params: Mapping[str, Any]) -> tuple[Plan, Any]:
        entry = self._by_statement.get(id(statement))
        keys = frozenset(params)
        if entry is None:
            plan = _compile(statement, params, self._dialect)
            if len(self._by_statement) >= _MAX_STATEMENTS:
                del self._by_statement[next(iter(self._by_statement))]
            self._by_statement[id(statement)] = _StatementPlans(statement, plan, keys)
        else:
            found = entry.by_keys.get(keys)
            if found is None:
                found = _compile(statement, params, self._dialect)
                if len(entry.by_keys) >= _MAX_KEY_SETS:
                    entry.by_keys.clear()
                entry.by_keys[keys] = found
            entry.last = plan = found
        try:
            return plan, plan.convert(params)
        except Exception as exc:
            raise _conversion_error(statement, exc) from exc


def _conversion_error(statement: Executable, exc: Exception) -> InvalidOp:
    return InvalidOp(statement, f"cannot convert parameters: {type(exc).__name__}: {exc}")


def _compile(statement: Executable, params: Mapping[str, Any], dialect: Dialect) -> Plan:
    compile_ = getattr(statement, "compile", None)
    if compile_ is None:
        raise InvalidOp(statement, "not a compilable SQLAlchemy statement")
    try:
        compiled = compile_(dialect=dialect, column_keys=list(params))
        expected = compiled.construct_params(params) if isinstance(compiled, SQLCompiler) else {}
    except Exception as exc:
        raise InvalidOp(statement, f"{type(exc).__name__}: {exc}") from exc
    keyset = frozenset(params)
    sql = str(compiled)
    if isinstance(compiled, SQLCompiler):
        if compiled.isinsert or compiled.isupdate or compiled.isdelete:
            # SQLAlchemy ignores keys that match no column or parameter (or that .values()
            # already fixes); for a write that silently drops a value, so refuse it.
            used = {bind.key for bind in compiled.binds.values()} | set(compiled.binds)
            unused = sorted(keyset - used)
            if unused:
                raise InvalidOp(statement, f"parameter(s) not used by the statement: {unused}")
        convert = _fast_converter(compiled, params, expected, dialect)
        if convert is not None:
            split = _values_split(compiled, sql, dialect)
            return Plan(statement, sql, True, len(keyset), convert, split)

    def keep_dict(p: Mapping[str, Any]) -> dict[str, Any]:
        if p.keys() != keyset:
            raise KeyError("parameter keys differ")
        return dict(p)

    return Plan(statement, sql, False, len(keyset), keep_dict)


def _values_split(compiled: SQLCompiler, sql: str, dialect: Dialect) -> tuple[str, str, str] | None:
    # Only the plain shape is rewritten: qmark parameters, one VALUES tuple made of nothing
    # but placeholders, and no parameter anywhere else (an ON CONFLICT clause that only
    # refers to excluded.* is fine). Anything else keeps executemany.
    positions = compiled.positiontup
    if not compiled.isinsert or dialect.paramstyle != "qmark" or not positions:
        return None
    marker = " VALUES ("
    if sql.count(marker) != 1 or sql.count("?") != len(positions):
        return None
    start = sql.index(marker) + len(marker) - 1
    values = "(" + ", ".join("?" * len(positions)) + ")"
    if not sql.startswith(values, start):
        return None
    return sql[:start], values, sql[start + len(values) :]


def _fast_converter(
    compiled: SQLCompiler,
    params: Mapping[str, Any],
    expected: Mapping[str, Any],
    dialect: Dialect,
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]] | None:
    positions = compiled.positiontup
    if (
        not compiled.positional
        or positions is None
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or compiled.effective_returning
    ):
        return None
    # Python-side column defaults are computed per execution by SQLAlchemy, not by
    # construct_params: a scalar one is a constant here, a callable one needs the slow path.
    prefetch: dict[str, Any] = {}
    for column in compiled.insert_prefetch:
        prefetch[column.key] = column.default
    for column in compiled.update_prefetch:
        prefetch[column.key] = column.onupdate
    sources: list[str | None] = []
    constants: list[Any] = []
    processors: list[Callable[[Any], Any] | None] = []
    reference_values: list[Any] = []
    for name in positions:
        bind = compiled.binds[name]
        if isinstance(bind.type, TupleType):
            return None
        if bind.key in params:
            sources.append(bind.key)
            constants.append(None)
            reference_values.append(expected[name])
        elif name in params:
            sources.append(name)
            constants.append(None)
            reference_values.append(expected[name])
        elif bind.key in prefetch:
            default = prefetch[bind.key]
            if default is None or not getattr(default, "is_scalar", False):
                return None
            sources.append(None)
            constants.append(default.arg)
            reference_values.append(default.arg)
        elif bind.callable is None:
            sources.append(None)
            constants.append(expected[name])
            reference_values.append(expected[name])
        else:
            return None
        processors.append(_bind_processor(bind.type, dialect))
    convert = _make_converter(sources, constants, processors)
    if {s for s in sources if s is not None} != set(params):
        # Some keys are not used by the SQL: only an identical key set may share this plan.
        keyset = frozenset(params)
        unchecked = convert

        def convert(p: Mapping[str, Any]) -> tuple[Any, ...]:
            if p.keys() != keyset:
                raise KeyError("parameter keys differ")
            return unchecked(p)

    # Check the plan against SQLAlchemy's own parameter processing on the first row.
    try:
        reference = tuple(
            proc(value) if proc is not None else value
            for value, proc in zip(reference_values, processors, strict=True)
        )
        same = bool(convert(params) == reference)
    except Exception:
        return None
    return convert if same else None


class _Shortcut:
    """A bind processor plus an inline expression for its common values (see _make_converter).

    ``template`` is formatted with ``v`` (a local name), ``value`` (the expression giving the
    parameter), ``f`` (the name bound to ``process``) and ``h`` (the name bound to
    ``helper``); it must equal ``process(value)`` for every value.
    """

    __slots__ = ("helper", "process", "template")

    def __init__(self, process: Callable[[Any], Any], template: str, helper: Any = None) -> None:
        self.process = process
        self.template = template
        self.helper = helper

    def __call__(self, value: Any) -> Any:
        return self.process(value)


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None or dialect.name != "sqlite":
        return process
    # The two processed types on the write-behind path get their common values handled
    # inline, equal to what the processor returns (checked on each plan's first row):
    # SQLite binds True/False as 1/0 by itself, and a dict/list is simply serialized.
    if type(impl) is Boolean:
        return _Shortcut(process, "({v} if ({v} := {value}) is True or {v} is False else {f}({v}))")
    if isinstance(impl, JSON) and String().bind_processor(dialect) is None:
        serializer = getattr(dialect, "_json_serializer", None) or json.dumps
        helper: Callable[[Any], Any]
        if serializer is _json_serializer:
            helper, call = _json_encoder.encode, "{h}({v}).decode()"
        else:
            helper, call = serializer, "{h}({v})"
        template = (
            "(" + call + " if ({v} := {value}).__class__ is dict or {v}.__class__ is list"
            " else {f}({v}))"
        )
        return _Shortcut(process, template, helper)
    return process


def _make_converter(
    sources: list[str | None],
    constants: list[Any],
    processors: list[Callable[[Any], Any] | None],
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Build ``convert(params) -> row`` as straight-line code for this plan's positions.

    Generated once per plan (like dataclasses does for ``__init__``): one subscript per
    parameter and one call per processed column, no loop and no intermediate list. Keys enter
    the code as ``repr`` literals of strings; processors and constants as default arguments.
    """
    if not sources:
        return lambda _params: ()
    if not all(isinstance(s, str) for s in sources if s is not None):
        raise TypeError("parameter keys must be strings")
    defaults: dict[str, Any] = {}
    parts: list[str] = []
    for i, (source, constant, process) in enumerate(
        zip(sources, constants, processors, strict=True)
    ):
        if source is None:
            defaults[f"c{i}"] = constant
            expr = f"c{i}"
        else:
            expr = f"p[{source!r}]"
        if isinstance(process, _Shortcut):
            defaults[f"f{i}"] = process.process
            if process.helper is not None:
                defaults[f"h{i}"] = process.helper
            expr = process.template.format(v=f"v{i}", value=expr, f=f"f{i}", h=f"h{i}")
        elif process is not None:
            defaults[f"f{i}"] = process
            expr = f"f{i}({expr})"
        parts.append(expr)
    params = "".join(f", {name}={name}" for name in defaults)
    code = f"def convert(p{params}):\n    return ({', '.join(parts)},)\n"
    namespace: dict[str, Any] = dict(defaults)
    exec(compile(code, "<actorgrid.storage plan>", "exec"), namespace)
    convert: Callable[[Mapping[str, Any]], tuple[Any, ...]] = namespace["convert"]
    return convert
