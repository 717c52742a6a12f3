"""Error-text aware tokenisation for the hashing embedder.

Failure texts are made of identifiers, paths, exception names, status codes and numbers as
much as of words. Two occurrences of one failure differ in ids, counts and timings, while
the names in them are what a runbook shares with them. So:

* an identifier (``snake_case``, ``camelCase``, ``dotted.name``, ``OperationalError``)
  yields its whole lower-cased form and, when it splits, its parts;
* a path or URL (``/var/lib/app.db``, ``https://host/api``) yields its components, each
  treated as an identifier;
* an HTTP status code (three digits, 100 to 599) yields itself and its class (``5xx``);
* a number with a unit (``30s``, ``512MiB``) yields the unit only; long digit runs
  (timestamps, ids, ports), hexadecimal ids and UUIDs are dropped;
* stop words, including the ubiquitous ``error`` and ``exception``, are dropped.

Words come in text order; a whole identifier is followed by its parts. :func:`terms`
also returns the *heads* (one term per identifier or word, without parts), whose adjacent
pairs the embedder hashes as word bigrams.
"""

from __future__ import annotations

import functools
import re
from typing import Final, NamedTuple

__all__ = ("STOPWORDS", "Terms", "stem", "terms")

STOPWORDS: Final = frozenset(
    """
    a an the is are was were be been being am do does did to of in on at for from by with
    and or but if then than that this these those it its as into via per so such there
    their they them we our you your he she his her i me my has have had will would can
    could should may might must shall also just very any some all each both which who whom
    what when where while about after before again against over under between during
    through because until here how why only own same too more most other nor off once error
    errors errno exception
    """.split()  # noqa: SIM905
)
"""Words that carry no meaning for matching failures against reference text."""

# An identifier with its dots (os.path.join, app.db), or a path/URL component run.
_TOKEN: Final = re.compile(r"\w+(?:\.\w+)*")
_PART: Final = re.compile(r"[^\W_]+")
_CAMEL: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_HEXISH: Final = re.compile(r"[0-9a-f]{6,}")
_NUMBER_UNIT: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?([a-z]{1,3})")


def stem(word: str) -> str:
    """Strip the commonest English inflections so that "locked", "locks" and "lock" meet."""
    if len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("ing") and len(word) > 5:
            return word[:-3]
        if word.endswith("ed") and len(word) > 5:
            return word[:-2]
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


def _keep(word: str) -> bool:
    """Whether a lower-cased piece is a word worth matching on."""
    if len(word) < 2 or word in STOPWORDS:
        return False
    if word.isdigit():
        return len(word) <= 3 and word[0] != "0"
    return not (_HEXISH.fullmatch(word) and any(c.isdigit() for c in word))


@functools.lru_cache(maxsize=1 << 16)
def _part_words(part: str) -> tuple[str, ...]:
    """Return the words of one alphanumeric run: the run and, if it splits, its pieces."""
    low = part.lower()
    if low.isdigit():
        if len(low) == 3 and "100" <= low <= "599":
            return (low, f"{low[0]}xx")
        return (low,) if _keep(low) else ()
    if _HEXISH.fullmatch(low) and any(c.isdigit() for c in low):
        return ()
    unit = _NUMBER_UNIT.fullmatch(low)
    if unit is not None:
        return (unit.group(1),) if _keep(unit.group(1)) else ()
    words = [low] if _keep(low) else []
    pieces = _CAMEL.findall(part) if part.isascii() else []
    if len(pieces) > 1:
        words.extend(p for p in (piece.lower() for piece in pieces) if _keep(p))
    return tuple(words)


@functools.lru_cache(maxsize=1 << 16)
def _token_words(token: str) -> tuple[tuple[str, ...], str | None]:
    """Return (every word, the head) of one identifier-or-word token."""
    parts = _PART.findall(token)
    if len(parts) == 1:
        words = _part_words(parts[0])
        return words, (words[0] if words else None)
    pieces = [_part_words(part) for part in parts]
    # The whole form only when no part is an id or a number: "run.7f3a9b12cd.sock" and
    # "run.0b1c2d3e4f.sock" are one failure.
    whole = [] if any(not p or p[0].isdigit() for p in pieces) else [token.lower()]
    out = whole + [w for p in pieces for w in p]
    return tuple(out), (out[0] if out else None)


class Terms(NamedTuple):
    """What :func:`terms` finds in one text."""

    words: list[str]
    """Every word, in text order; an identifier's whole form before its parts."""
    heads: list[str]
    """One word per identifier or plain word (its whole form), in text order."""


def terms(text: str) -> Terms:
    """Split ``text`` into lower-cased words and heads (see the module docstring)."""
    words: list[str] = []
    heads: list[str] = []
    for token in _TOKEN.findall(text):
        found, head = _token_words(token)
        words.extend(found)
        if head is not None:
            heads.append(head)
    return Terms(words, heads)
