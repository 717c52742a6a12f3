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
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import JSON, Boolean, String, TupleType

from ._exceptions import InvalidOp

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

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
        fast: Whether rows are positional sequences for ``sql`` (else dicts for SQLAlchemy).
        nkeys: The number of parameter keys this plan was compiled for.
        convert: Turns a params mapping into the row to execute; raises ``KeyError`` when the
            mapping does not have this plan's keys.
    """

    __slots__ = ("convert", "fast", "nkeys", "sql", "statement")

    def __init__(
        self,
        statement: Executable,
        sql: str,
        fast: bool,
        nkeys: int,
        convert: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        self.statement = statement
        self.sql = sql
        self.fast = fast
        self.nkeys = nkeys
        self.convert = convert


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

    def prepare(self, statement: Executable, params: Mapping[str, Any]) -> tuple[Plan, Any]:
        """Return the plan for ``statement`` with ``params`` and the row converted from them.

        Raises:
            InvalidOp: The statement does not compile, a required parameter is missing, or a
                value cannot be converted for its column.
        """
        entry = self._by_statement.get(id(statement))
        if entry is not None and entry.statement is statement:
            plan = entry.last
            if len(params) == plan.nkeys:
                # Same count and every used key present: for INSERT/UPDATE every key is used
                # (SQLAlchemy rejects unconsumed ones), so this is the same key set.
                try:
                    return plan, plan.convert(params)
                except KeyError:
                    pass
                except Exception as exc:
                    raise InvalidOp(statement, f"cannot convert parameters: {exc!r}") from exc
            keys = frozenset(params)
            found = entry.by_keys.get(keys)
            if found is None:
                found = _compile(statement, params, self._dialect)
                if len(entry.by_keys) >= _MAX_KEY_SETS:
                    entry.by_keys.clear()
                entry.by_keys[keys] = found
            entry.last = found
            plan = found
        else:
            plan = _compile(statement, params, self._dialect)
            if len(self._by_statement) >= _MAX_STATEMENTS:
                del self._by_statement[next(iter(self._by_statement))]
            self._by_statement[id(statement)] = _StatementPlans(statement, plan, frozenset(params))
        try:
            return plan, plan.convert(params)
        except Exception as exc:
            raise InvalidOp(statement, f"cannot convert parameters: {exc!r}") from exc


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
            # SQLAlchemy ignores keys that match no column or parameter; for a write that is
            # almost always a typo that would silently drop a value, so refuse it.
            used = {bind.key for bind in compiled.binds.values()} | set(compiled.binds)
            unknown = sorted(keyset - used)
            if unknown:
                raise InvalidOp(statement, f"unknown column or parameter name(s): {unknown}")
        convert = _fast_converter(compiled, params, expected, dialect)
        if convert is not None:
            return Plan(statement, sql, True, len(keyset), convert)

    def keep_dict(p: Mapping[str, Any]) -> dict[str, Any]:
        if p.keys() != keyset:
            raise KeyError("parameter keys differ")
        return dict(p)

    return Plan(statement, sql, False, len(keyset), keep_dict)


def _fast_converter(
    compiled: SQLCompiler,
    params: Mapping[str, Any],
    expected: Mapping[str, Any],
    dialect: Dialect,
) -> Callable[[Mapping[str, Any]], Sequence[Any]] | None:
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

        def convert(p: Mapping[str, Any]) -> Sequence[Any]:
            if p.keys() != keyset:
                raise KeyError("parameter keys differ")
            return unchecked(p)

    # Check the plan against SQLAlchemy's own parameter processing on the first row.
    try:
        reference = tuple(
            proc(value) if proc is not None else value
            for value, proc in zip(reference_values, processors, strict=True)
        )
        same = bool(tuple(convert(params)) == reference)
    except Exception:
        return None
    return convert if same else None


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None or dialect.name != "sqlite":
        return process
    # Shortcuts for the common values of the two processed types on the write-behind path,
    # equal to what the processor returns (checked against it on each plan's first row).
    if type(impl) is Boolean:

        def boolean(value: Any) -> Any:
            return value if value is True or value is False else process(value)

        return boolean
    if isinstance(impl, JSON) and String().bind_processor(dialect) is None:
        serialize = getattr(dialect, "_json_serializer", None) or json.dumps

        def json_value(value: Any) -> Any:
            kind = type(value)
            return serialize(value) if kind is dict or kind is list else process(value)

        return json_value
    return process


def _make_converter(
    sources: list[str | None],
    constants: list[Any],
    processors: list[Callable[[Any], Any] | None],
) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    if not sources:
        return lambda _params: ()
    if any(s is None for s in sources):
        spec = tuple(zip(sources, constants, processors, strict=True))

        def general(p: Mapping[str, Any]) -> tuple[Any, ...]:
            row = [p[s] if s is not None else c for s, c, _ in spec]
            return tuple(v if f is None else f(v) for v, (_, _, f) in zip(row, spec, strict=True))

        return general
    keys = [s for s in sources if s is not None]
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    if len(keys) == 1:
        key = keys[0]

        def getter(p: Mapping[str, Any]) -> tuple[Any, ...]:
            return (p[key],)

    else:
        getter = itemgetter(*keys)
    fixups = tuple((i, f) for i, f in enumerate(processors) if f is not None)
    if not fixups:
        return getter
    if len(fixups) == 1:
        ((index, proc),) = fixups

        def one_fixup(p: Mapping[str, Any]) -> list[Any]:
            row = list(getter(p))
            row[index] = proc(row[index])
            return row

        return one_fixup

    def fixup(p: Mapping[str, Any]) -> list[Any]:
        row = list(getter(p))
        for i, f in fixups:
            row[i] = f(row[i])
        return row

    return fixup
