"""Messages and the one codec: frozen tagged msgspec Structs, reused msgpack Encoder/Decoders.

In-process, messages travel by reference (they are immutable). Whenever one crosses a
boundary (storage, the dead-letter queue, the admin API, another process) it goes through
this module. ``strict_messages`` round-trips every ``tell`` through :func:`roundtrip`, so a
message that cannot cross a boundary fails at the sender, not later inside a receiver.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from ._exceptions import MessageDecodeError, MessageEncodeError

__all__ = ("Message", "decode", "encode", "roundtrip")

T = TypeVar("T")


class Message(msgspec.Struct, frozen=True, tag=True):
    """Base class of every actor message: frozen, tagged with its class name.

    Subclass it for each message of a protocol and name the union
    (``Command = Get | Put``), then dispatch with ``match``. msgspec inherits ``frozen``,
    but type checkers need it repeated: ``class Get(Message, frozen=True): ...``.
    """


_encoder = msgspec.msgpack.Encoder()
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def _decoder(type_: Any) -> msgspec.msgpack.Decoder[Any]:
    dec = _decoders.get(type_)
    if dec is None:
        dec = _decoders[type_] = msgspec.msgpack.Decoder(type_)
    return dec


def encode(obj: object) -> bytes:
    """Encode ``obj`` as msgpack.

    Raises:
        MessageEncodeError: if ``obj`` (or anything inside it) has no msgpack form.
    """
    try:
        return _encoder.encode(obj)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MessageEncodeError(obj, exc) from exc


def decode(data: bytes, type_: type[T]) -> T:
    """Decode msgpack ``data`` as ``type_`` (the decoder for each type is built once).

    Raises:
        MessageDecodeError: if ``data`` is not valid msgpack or does not match ``type_``.
    """
    try:
        result: T = _decoder(type_).decode(data)
    except msgspec.DecodeError as exc:
        raise MessageDecodeError(type_, exc) from exc
    return result


def roundtrip(msg: T) -> T:
    """Encode ``msg`` and decode it back as its own type (what ``strict_messages`` does).

    Raises:
        MessageEncodeError: if ``msg`` cannot be encoded, or does not decode back to an equal
            value of its type (a ``set`` inside an ``Any`` field comes back as a list).
    """
    data = encode(msg)
    try:
        copy = decode(data, type(msg))
    except MessageDecodeError as exc:
        raise MessageEncodeError(msg, exc) from exc
    if copy != msg:
        raise MessageEncodeError(msg, ValueError("it does not decode back to an equal value"))
    return copy
