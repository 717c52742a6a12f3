"""A real-text retrieval corpus with known right answers: the standard library's docstrings.

Nobody on the project wrote it and the project ships none of it: it is read, at run time,
from the source files of the Python that runs the benchmark (parsed with :mod:`ast`, never
imported). Every docstring of a public module, class, function or method whose first line
paragraph is a summary (at most three lines) and whose body (the rest) says more makes one item: the
query is the summary line, the right answer is the body. It is the shape the pattern
engine meets, a short line looked up among paragraphs that explain it, in other words than
its own.
"""

from __future__ import annotations

import ast
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ("DocItem", "docstring_corpus", "docstring_paragraphs")

_MIN_BODY: Final = 80
"""Bodies shorter than this many characters say too little to be an answer."""
_MAX_BODY: Final = 1_500
"""Bodies are cut here (a sentence model reads about 256 word pieces anyway)."""
_MIN_WORDS: Final = 4
_MAX_QUERY_LINES: Final = 3
"""A summary is the first paragraph, of at most this many lines."""
_SKIP: Final = ("test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages", "ensurepip")


@dataclass(frozen=True, slots=True)
class DocItem:
    """One docstring: where it is, its summary line (the query) and its body (the answer)."""

    where: str
    query: str
    answer: str


def _split(doc: str) -> tuple[str, str] | None:
    head, sep, rest = doc.strip().partition("\n\n")
    if not sep or head.count("\n") >= _MAX_QUERY_LINES:
        return None
    query = " ".join(head.split())
    body = rest.strip()
    if len(query.split()) < _MIN_WORDS or len(body) < _MIN_BODY:
        return None
    return query, body[:_MAX_BODY]


def _items(path: Path, root: Path) -> list[DocItem]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    parts = path.relative_to(root).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    found: list[DocItem] = []
    nodes: list[tuple[str, ast.AST]] = [(module, tree)]
    while nodes:
        where, node = nodes.pop()
        doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
        split = _split(doc) if doc else None
        if split is not None:
            found.append(DocItem(where, *split))
        nodes.extend(
            (f"{where}.{child.name}", child)
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and not child.name.startswith("_")
        )
    return found


def docstring_corpus() -> list[DocItem]:
    """Return every usable docstring of the running Python's standard library.

    Items are sorted by where they are, and a body or a query that occurs more than once
    (an inherited or copied docstring) is dropped with all its copies, so each query has
    exactly one right answer.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    items = [
        item
        for path in sorted(root.rglob("*.py"))
        if not any(part in _SKIP for part in path.relative_to(root).parts)
        and not any(
            part.startswith("_") and part != "__init__.py" for part in path.relative_to(root).parts
        )
        for item in _items(path, root)
    ]
    answers: dict[str, int] = {}
    queries: dict[str, int] = {}
    for item in items:
        answers[item.answer] = answers.get(item.answer, 0) + 1
        queries[item.query] = queries.get(item.query, 0) + 1
    unique = [i for i in items if answers[i.answer] == 1 and queries[i.query] == 1]
    return sorted(unique, key=lambda i: i.where)


_MIN_PARAGRAPH: Final = 40
"""Paragraphs shorter than this many characters are left out of the large corpus."""


def docstring_paragraphs(limit: int, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Return up to ``limit`` distinct paragraphs of the running Python's docstrings.

    The large real-text corpus for the vector index (recall and speed at 50,000 to
    100,000 chunks): every paragraph of at least 40 characters of every docstring of every
    module, class and function of the standard library (tests included, parsed, never
    imported), whitespace-normalised, first occurrence kept, in file order, except those
    in ``exclude`` (the queries, so that none finds itself). Python 3.11's holds about
    125,000.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: dict[str, None] = {}
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            doc = ast.get_docstring(node, clean=True)
            for paragraph in (doc or "").split("\n\n"):
                text = " ".join(paragraph.split())
                if len(text) >= _MIN_PARAGRAPH and text not in exclude:
                    seen.setdefault(text, None)
                    if len(seen) >= limit:
                        return list(seen)
    return list(seen)
