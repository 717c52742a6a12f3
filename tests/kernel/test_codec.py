"""Tests of the message codec (kernel/_codec.py)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actorgrid.kernel import Message, MessageDecodeError, MessageEncodeError, decode, encode
from actorgrid.kernel import roundtrip as codec_roundtrip


class Put(Message, frozen=True):
    key: str
    value: int


class Get(Message, frozen=True):
    key: str


Command = Put | Get


class Loose(Message, frozen=True):
    anything: Any


class TestCodec:
    def test_tagged_union_roundtrip(self) -> None:
        """Messages encode with their tag and decode back through the named union."""
        data = encode(Put("k", 1))
        assert msgspec.msgpack.decode(data)["type"] == "Put"
        assert decode(data, Command) == Put("k", 1)  # type: ignore[arg-type]
        assert decode(encode(Get("k")), Command) == Get("k")  # type: ignore[arg-type]

    def test_messages_are_frozen(self) -> None:
        """A message cannot be changed after it is built."""
        msg = Put("k", 1)
        with pytest.raises(AttributeError):
            msg.value = 2  # type: ignore[misc]

    def test_roundtrip_returns_an_equal_copy(self) -> None:
        """roundtrip gives back an equal message of the same type."""
        msg = Put("k", 1)
        copy = codec_roundtrip(msg)
        assert copy == msg
        assert type(copy) is Put

    def test_unencodable_value(self) -> None:
        """A value msgpack cannot hold raises MessageEncodeError naming the message type."""
        with pytest.raises(MessageEncodeError, match="Loose"):
            encode(Loose(object()))
        with pytest.raises(MessageEncodeError):
            codec_roundtrip(Loose({1, 2}))  # a set encodes as a list, not a set

    def test_bad_bytes(self) -> None:
        """Garbage or a mismatched shape raises MessageDecodeError naming the expected type."""
        with pytest.raises(MessageDecodeError, match="Put"):
            decode(b"\xc1", Put)
        with pytest.raises(MessageDecodeError, match="Put"):
            decode(encode(Get("k")), Put)
