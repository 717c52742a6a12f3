"""A second real-text retrieval corpus: the manual pages of section 1 on this machine.

Nobody on the project wrote it and the project ships none of it: it is read, at run time,
from ``/usr/share/man/man1`` (gzip-compressed roff, with a simple roff strip: requests
dropped, the text of font macros such as ``.B`` kept, escapes removed). Every page whose
NAME line has a description after `` - `` and whose DESCRIPTION section says something
makes one item: the query is that description ("copy files and directories"), the right
answer is the DESCRIPTION text, cut at 1,500 characters; a page whose DESCRIPTION repeats
its NAME description word for word (thousands of generated ``gcloud`` pages) is left out,
as it tests nothing but string equality. A machine without the pages (a
slim container) gives no items, and the benchmark says it left the corpus out.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Final

from bench._docstrings import DocItem

__all__ = ("MAN_ROOT", "manpage_corpus")

MAN_ROOT: Final = Path("/usr/share/man/man1")
_MIN_ANSWER: Final = 40
"""Descriptions shorter than this many characters say too little to be an answer."""
_MAX_ANSWER: Final = 1_500
_MIN_QUERY_WORDS: Final = 2
_ESCAPE: Final = re.compile(
    r"\\f(?:\(..|\[[^\]]*\]|.)|\\\(..|\\\[[^\]]*\]|\\\*(?:\(..|\[[^\]]*\]|.)|\\s[-+]?\d|\\[&|^%]"
)
_KEEP: Final = {"\\-": "-", "\\e": "\\", "\\ ": " "}
_TEXT_MACRO: Final = re.compile(
    r"\.(?:B|I|BR|RB|IR|RI|BI|IB|SM|SB|Nm|Nd|Ar|Fl|Xr|Pa|Cm|Em|Dq|Sq|Ql|Li|Op)\s+(.*)"
)


def _strip(line: str) -> str:
    """Return the text of one roff text line: escapes removed, ``\\-`` as ``-``."""
    for escape, char in _KEEP.items():
        line = line.replace(escape, char)
    return _ESCAPE.sub("", line).replace("\\", "").replace('"', "")


def _page(text: str) -> tuple[str, str] | None:
    """Return (the NAME description, the DESCRIPTION text) of one page, if it has both."""
    section = ""
    name: list[str] = []
    body: list[str] = []
    for raw in text.splitlines():
        if raw.startswith((".SH", ".Sh")):
            section = raw[3:].strip().strip('"').upper()
            continue
        line = raw
        if raw.startswith((".", "'")):
            found = _TEXT_MACRO.match(raw)
            if found is None:
                if section == "NAME" and name:
                    section = "NAME (done)"  # the NAME paragraph ends at the next request
                continue
            line = ("\\- " if raw.startswith(".Nd") else "") + found.group(1)
        words = _strip(line).split()
        if not words:
            continue
        if section == "NAME":
            name.append(" ".join(words))
        elif section == "DESCRIPTION":
            body.append(" ".join(words))
    _, dash, query = " ".join(name).partition(" - ")
    answer = " ".join(body)[:_MAX_ANSWER]
    if not dash or len(query.split()) < _MIN_QUERY_WORDS or len(answer) < _MIN_ANSWER:
        return None
    if query.lower().rstrip(".") in answer.lower():
        return None  # the answer repeats the query: a generated page, no test of retrieval
    return query, answer


def manpage_corpus(stride: int = 1, root: Path = MAN_ROOT) -> list[DocItem]:
    """Return the items of every ``stride``-th page under ``root`` (sorted by file name).

    A query or an answer that occurs more than once among them (a page per subcommand that
    repeats its parent's text) is dropped with all its copies, so each query has exactly
    one right answer. No pages (no such directory): an empty list.
    """
    if not root.is_dir():
        return []
    items: list[DocItem] = []
    for path in sorted(root.glob("*.gz"))[::stride]:
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                found = _page(f.read())
        except (OSError, EOFError, zlib.error):
            continue
        if found is not None:
            items.append(DocItem(path.name, *found))
    answers: dict[str, int] = {}
    queries: dict[str, int] = {}
    for item in items:
        answers[item.answer] = answers.get(item.answer, 0) + 1
        queries[item.query] = queries.get(item.query, 0) + 1
    return [i for i in items if answers[i.answer] == 1 and queries[i.query] == 1]
