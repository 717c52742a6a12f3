"""Tests for ``bench._manpages``: the roff strip, what makes an item, what is left out."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from bench._manpages import manpage_corpus

if TYPE_CHECKING:
    from pathlib import Path

_PAGE = """.TH CP 1
.SH NAME
cp \\- copy files and directories
.SH SYNOPSIS
.B cp
[\\fIOPTION\\fR]... SOURCE DEST
.SH DESCRIPTION
.PP
Copy
.B SOURCE
to \\fBDEST\\fR, or multiple SOURCE(s) to DIRECTORY, keeping what \\-p asks for.
.SH OPTIONS
ignored text
"""


def _write(root: Path, name: str, text: str) -> None:
    with gzip.open(root / name, "wt", encoding="utf-8") as f:
        f.write(text)


def test_a_page_gives_its_name_description_and_its_description_text(tmp_path: Path) -> None:
    _write(tmp_path, "cp.1.gz", _PAGE)
    [item] = manpage_corpus(root=tmp_path)
    assert item.where == "cp.1.gz"
    assert item.query == "copy files and directories"
    assert item.answer == (
        "Copy SOURCE to DEST, or multiple SOURCE(s) to DIRECTORY, keeping what -p asks for."
    )


def test_pages_without_an_answer_or_repeating_the_query_are_left_out(tmp_path: Path) -> None:
    _write(tmp_path, "a.1.gz", ".SH NAME\na \\- does a thing\n.SH OPTIONS\nnone\n")
    _write(
        tmp_path,
        "b.1.gz",
        ".SH NAME\nb \\- lists the b things\n.SH DESCRIPTION\n"
        "Lists the b things, as its name says, and nothing else at all here.\n",
    )
    (tmp_path / "broken.1.gz").write_bytes(b"not gzip at all")
    assert manpage_corpus(root=tmp_path) == []


def test_copies_are_dropped_with_their_original_and_stride_reads_every_nth(
    tmp_path: Path,
) -> None:
    for name in ("x.1.gz", "y.1.gz"):
        _write(tmp_path, name, _PAGE)
    _write(tmp_path, "z.1.gz", _PAGE.replace("copy files", "move files").replace("Copy", "Move"))
    assert [i.where for i in manpage_corpus(root=tmp_path)] == ["z.1.gz"]
    assert [i.where for i in manpage_corpus(2, root=tmp_path)] == ["x.1.gz", "z.1.gz"]
    assert manpage_corpus(root=tmp_path / "absent") == []
