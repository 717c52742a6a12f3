"""Configuration as msgspec Structs, decoded from TOML and ``ACTORGRID_*`` environment variables.

Precedence, lowest first: the Struct's defaults, the TOML file, the environment. Every
problem is raised as :class:`~actorgrid.kernel.ConfigError` naming where the bad value came
from (the file, or the one environment variable), the dotted field path and what was expected.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import re
import tomllib
import types
import typing
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar, Union

import msgspec
import msgspec.inspect as mi

from ._exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ("load_config",)

T = TypeVar("T", bound=msgspec.Struct)

_PathPart = str | int
_Path = tuple[_PathPart, ...]
_Keys = tuple[str, ...]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_NULL = frozenset({"none", "null"})
# Values kept as they are when a converted environment value goes back into the raw tree.
_NATIVE: tuple[type, ...] = (
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
    bytes,
    bytearray,
    memoryview,
)
_AT = re.compile(r" - at `(\$[^`]*)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")
_NOT_FOUND = object()
_CONTAINER = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType, mi.TupleType)
_MAPPING = (mi.DictType, mi.StructType, mi.DataclassType, mi.TypedDictType)


def load_config(
    type_: type[T],
    path: str | os.PathLike[str] | None = None,
    *,
    env_prefix: str = "ACTORGRID_",
    environ: Mapping[str, str] | None = None,
    section: str | None = None,
) -> T:
    """Load a config Struct from a TOML file and environment overrides.

    Environment variables are matched case-insensitively: ``<PREFIX><FIELD>`` sets a top-level
    field and ``<PREFIX><SECTION>__<FIELD>`` a field of a nested Struct (a double underscore
    is one level of nesting). Their strings are converted to the field's type: booleans accept
    ``true/false/1/0/yes/no/on/off``; lists, sets and tuples accept a JSON array or a
    comma-separated list; Struct and dict fields accept a JSON object; ``none``/``null`` sets an
    optional field to None. Every variable under the prefix must name a field.

    Args:
        type_: The msgspec Struct type to build; nested Structs are TOML tables.
        path: The TOML file. None reads no file (defaults and environment only); a path that
            does not exist is an error.
        env_prefix: The prefix of the environment variables that override the file.
        environ: The environment to read; defaults to ``os.environ``.
        section: Decode only this (dotted) table of the file; its environment variables then
            are ``<PREFIX><SECTION>__<FIELD>`` and error paths start with the section.

    Returns:
        The decoded, validated instance of ``type_``.

    Raises:
        ConfigError: The file is missing, unreadable or not valid TOML; a key or environment
            variable names no field; a value has the wrong type or fails validation
            (including an exception raised by a Struct's ``__post_init__``).
        TypeError: ``type_`` is not a msgspec Struct type.
    """
    if not (isinstance(type_, type) and issubclass(type_, msgspec.Struct)):
        raise TypeError(f"load_config needs a msgspec.Struct type, got {type_!r}")
    section_path: _Keys = tuple(section.split(".")) if section else ()
    file_source = os.fspath(path) if path is not None else None
    base_source = file_source or f"environment variables {env_prefix}*"

    info = mi.type_info(type_)
    data: dict[str, object] = {}
    if file_source is not None:
        data = _section(_read_toml(Path(file_source), file_source), section_path, file_source)
        _check_unknown(data, info, section_path, file_source)

    env_paths: dict[_Path, str] = {}
    env = os.environ if environ is None else environ
    for parts, name in _matching_vars(env, env_prefix, section_path):
        source = f"environment variable {name}"
        target, annotation = _resolve(type_, parts, section_path, source)
        if target in env_paths:
            other = env_paths[target]
            raise ConfigError(source, _dotted(section_path + target), f"also set by {other}")
        value = _env_value(env[name], annotation, section_path + target, source)
        _assign(data, target, value)
        env_paths[target] = name

    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        where, problem = _split(str(exc))
        source = _attribute(where, env_paths, file_source, base_source)
        problem = _describe(problem, _lookup(data, where), _type_at(info, where))
        raise ConfigError(source, _dotted(section_path + where), problem) from exc
    except Exception as exc:
        raise ConfigError(base_source, None, f"{type(exc).__name__}: {exc}") from exc


def _read_toml(path: Path, source: str) -> dict[str, object]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(source, None, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            source, None, f"not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from exc
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POS.search(message)
        if match is None:
            raise ConfigError(source, None, f"TOML syntax error: {message}") from exc
        line, column = match.groups()
        problem = f"TOML syntax error at line {line}, column {column}: {message[: match.start()]}"
        raise ConfigError(source, None, problem) from exc


def _section(data: dict[str, object], section: _Keys, source: str) -> dict[str, object]:
    for depth, key in enumerate(section):
        value = data.get(key, {})
        if not isinstance(value, dict):
            problem = f"expected a table, got {_kind(value)} {value!r}"
            raise ConfigError(source, _dotted(section[: depth + 1]), problem)
        data = value
    return data


def _check_unknown(value: object, info: mi.Type, path: _Path, source: str) -> None:
    """Raise for the first key that names no field, anywhere under ``value``."""
    if isinstance(info, mi.UnionType):
        candidates = [t for t in info.types if isinstance(t, _MAPPING)]
        if len(candidates) == 1:
            _check_unknown(value, candidates[0], path, source)
        return
    if isinstance(info, mi.StructType | mi.DataclassType | mi.TypedDictType):
        if not isinstance(value, dict):
            return
        fields = {f.encode_name: f for f in info.fields}
        tag_field = info.tag_field if isinstance(info, mi.StructType) else None
        for key, item in value.items():
            if key == tag_field:
                continue
            field = fields.get(key)
            if field is None:
                expected = ", ".join(sorted(fields)) or "no fields"
                problem = f"unknown field (expected {expected})"
                raise ConfigError(source, _dotted((*path, key)), problem)
            _check_unknown(item, field.type, (*path, key), source)
    elif isinstance(info, mi.DictType) and isinstance(value, dict):
        for key, item in value.items():
            _check_unknown(item, info.value_type, (*path, str(key)), source)
    elif isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_unknown(item, info.item_type, (*path, index), source)
    elif isinstance(info, mi.TupleType) and isinstance(value, list):
        for index, (item, item_info) in enumerate(zip(value, info.item_types, strict=False)):
            _check_unknown(item, item_info, (*path, index), source)


def _matching_vars(env: Mapping[str, str], prefix: str, section: _Keys) -> list[tuple[_Keys, str]]:
    """Return (lower-cased field path below the section, variable name), shallowest first."""
    found: list[tuple[_Keys, str]] = []
    upper_prefix = prefix.upper()
    want = tuple(part.lower() for part in section)
    for name in env:
        if not name.upper().startswith(upper_prefix):
            continue
        parts = tuple(name[len(prefix) :].lower().split("__"))
        if parts[: len(want)] != want:
            continue
        parts = parts[len(want) :]
        if not parts or "" in parts:
            problem = "malformed name: expected FIELD or SECTION__FIELD after the prefix"
            raise ConfigError(f"environment variable {name}", None, problem)
        found.append((parts, name))
    found.sort(key=lambda item: (len(item[0]), item[1]))
    return found


def _resolve(
    type_: type[msgspec.Struct], parts: _Keys, section: _Keys, source: str
) -> tuple[_Path, object]:
    """Map lower-cased env parts onto encode names; return the key path and the annotation."""
    annotation: object = type_
    target: list[_PathPart] = []
    for part in parts:
        struct = _struct_in(annotation)
        if struct is not None:
            fields = {f.encode_name.lower(): f for f in msgspec.structs.fields(struct)}
            fields.update({f.name.lower(): f for f in msgspec.structs.fields(struct)})
            field = fields.get(str(part))
            if field is None:
                expected = ", ".join(sorted({f.encode_name for f in fields.values()}))
                problem = f"unknown field (expected {expected or 'no fields'})"
                raise ConfigError(source, _dotted((*section, *target, part)), problem)
            target.append(field.encode_name)
            annotation = field.type
            continue
        value_type = _dict_value_in(annotation)
        if value_type is None:
            problem = f"not a table, so it has no field {part!r}"
            raise ConfigError(source, _dotted((*section, *target)), problem)
        target.append(part)
        annotation = value_type
    return tuple(target), annotation


def _unwrap(annotation: object) -> list[object]:
    """Return the members of a union (or the annotation itself), without Annotated and None."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members: list[object] = []
        for arg in typing.get_args(annotation):
            members.extend(_unwrap(arg))
        return members
    return [] if annotation is type(None) else [annotation]


def _struct_in(annotation: object) -> type[msgspec.Struct] | None:
    members = _unwrap(annotation)
    if len(members) == 1:
        member = members[0]
        if isinstance(member, type) and issubclass(member, msgspec.Struct):
            return member
    return None


def _dict_value_in(annotation: object) -> object | None:
    members = _unwrap(annotation)
    if len(members) == 1 and typing.get_origin(members[0]) is dict:
        args = typing.get_args(members[0])
        return args[1] if len(args) == 2 else object
    return None


def _env_value(raw: str, annotation: object, path: _Path, source: str) -> object:
    """Convert one environment string to the field's type; return it as raw-tree data."""
    info = mi.type_info(annotation)
    value = _from_string(raw, info, path, source)
    _check_unknown(value, info, path, source)
    try:
        converted = msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError as exc:
        where, problem = _split(str(exc))
        found = _lookup(value, where) if where else raw
        problem = _describe(problem, found, _type_at(info, where))
        raise ConfigError(source, _dotted(path + where), problem) from exc
    except Exception as exc:
        raise ConfigError(source, _dotted(path), f"{type(exc).__name__}: {exc}") from exc
    return msgspec.to_builtins(converted, builtin_types=_NATIVE)


def _from_string(raw: str, info: mi.Type, path: _Path, source: str) -> object:
    members = list(info.types) if isinstance(info, mi.UnionType) else [info]
    if any(isinstance(m, mi.NoneType) for m in members) and raw.strip().lower() in _NULL:
        return None
    members = [m for m in members if not isinstance(m, mi.NoneType)]
    if len(members) != 1:
        return raw
    kind = members[0]
    if isinstance(kind, mi.BoolType):
        return _bool(raw)
    if isinstance(kind, _CONTAINER):
        if raw.lstrip().startswith("["):
            return _json(raw, path, source, "a JSON array")
        items: list[object] = [item.strip() for item in raw.split(",")] if raw.strip() else []
        item_type = getattr(kind, "item_type", None)
        if isinstance(item_type, mi.BoolType):
            items = [_bool(str(item)) for item in items]
        return items
    if isinstance(kind, _MAPPING):
        return _json(raw, path, source, "a JSON object")
    return raw


def _bool(raw: str) -> object:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return raw


def _json(raw: str, path: _Path, source: str, expected: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        problem = f"expected {expected}, got invalid JSON {raw!r} ({exc.msg} at column {exc.colno})"
        raise ConfigError(source, _dotted(path), problem) from exc


def _assign(data: dict[str, object], target: _Path, value: object) -> None:
    node = data
    for key in target[:-1]:
        child = node.get(str(key))
        if not isinstance(child, dict):
            child = {}
            node[str(key)] = child
        node = child
    node[str(target[-1])] = value


def _split(message: str) -> tuple[_Path, str]:
    """Split a msgspec ValidationError message into its path and its problem."""
    match = _AT.search(message)
    if match is None:
        return (), message
    path: list[_PathPart] = []
    for name, index in _SEGMENT.findall(match.group(1)):
        if name:
            path.append(name)
        else:
            path.append(int(index) if index.isdigit() else "[...]")
    return tuple(path), message[: match.start()]


def _describe(problem: str, found: object, info: mi.Type | None) -> str:
    """Rewrite msgspec's problem text as 'expected X, got <kind> <value>'."""
    missing = _MISSING.match(problem)
    if missing:
        return f"missing required field {missing.group(1)!r}"
    choices = _choices(info)
    if problem.startswith("Invalid enum value") and choices and found is not _NOT_FOUND:
        return f"expected one of {choices}, got {_kind(found)} {found!r}"
    text = problem.replace("`", "")
    if not text.startswith("Expected "):
        return text
    text = "e" + text[1:]
    if found is _NOT_FOUND:
        return text
    if ", got " in text:
        return f"{text} {found!r}"
    return f"{text}, got {_kind(found)} {found!r}"


def _type_at(info: mi.Type, path: _Path) -> mi.Type | None:
    """Return the msgspec type found at ``path`` below ``info``, if it can be followed."""
    node: mi.Type = info
    for key in path:
        if isinstance(node, mi.UnionType):
            members = [t for t in node.types if not isinstance(t, mi.NoneType)]
            if len(members) != 1:
                return None
            node = members[0]
        if isinstance(node, mi.StructType | mi.DataclassType | mi.TypedDictType):
            field = next((f for f in node.fields if f.encode_name == key), None)
            if field is None:
                return None
            node = field.type
        elif isinstance(node, mi.DictType):
            node = node.value_type
        elif isinstance(node, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            node = node.item_type
        elif isinstance(node, mi.TupleType) and isinstance(key, int) and key < len(node.item_types):
            node = node.item_types[key]
        else:
            return None
    return node


def _choices(info: mi.Type | None) -> str:
    members = list(info.types) if isinstance(info, mi.UnionType) else [info]
    values: list[object] = []
    for member in members:
        if isinstance(member, mi.EnumType):
            values.extend(item.value for item in member.cls)
        elif isinstance(member, mi.LiteralType):
            values.extend(member.values)
    return ", ".join(repr(value) for value in values)


def _lookup(data: object, path: _Path) -> object:
    node = data
    for key in path:
        if isinstance(node, dict) and isinstance(key, str) and key in node:
            node = node[key]
            continue
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            continue
        return _NOT_FOUND
    return node


def _attribute(
    where: _Path, env_paths: Mapping[_Path, str], file_source: str | None, fallback: str
) -> str:
    """Name the source of the value at ``where``: its env variable(s), else the file."""
    for length in range(len(where), -1, -1):
        name = env_paths.get(where[:length])
        if name is not None:
            return f"environment variable {name}"
    below = sorted(name for path, name in env_paths.items() if path[: len(where)] == where)
    if not below:
        return file_source or fallback
    noun = "variable" if len(below) == 1 else "variables"
    env = f"environment {noun} {', '.join(below)}"
    return f"{file_source} with {env}" if file_source else env


def _dotted(path: _Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[...]":
            out += part
        else:
            out += f".{part}" if out else part
    return out


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
