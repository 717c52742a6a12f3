"""The pattern-engine bench's retrieval-quality section, on a small slice of its real corpus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorgrid import HashingEmbedder
from bench._docstrings import docstring_corpus
from bench._quality import evaluate, print_tradeoff, quality_figures

if TYPE_CHECKING:
    import pytest


def test_quality_section_on_a_slice(capsys: pytest.CaptureFixture[str]) -> None:
    """The stdlib docstrings give unique query/answer pairs; hit@k, glimpse and revise agree."""
    corpus = docstring_corpus()
    assert len(corpus) > 1000
    assert len({i.query for i in corpus}) == len({i.answer for i in corpus}) == len(corpus)
    items = corpus[::40]
    embedder = HashingEmbedder()
    quality = evaluate(embedder, items)
    hit1, hit3 = quality.hit_at(1), quality.hit_at(3)
    assert 0.0 < hit1 <= hit3 <= 1.0
    assert quality.glimpse(-1.0) == (hit1, 1.0)
    assert quality.revise(-1.0) == (hit3, 1.0)
    assert quality.glimpse(1.01)[1] == 0.0
    glimpse, revise = quality.calibrated()
    assert quality.kept_right(glimpse, 1) >= 0.85
    assert quality.kept_right(revise, 3) >= 0.95
    figures = {f.metric: f.value for f in quality_figures(quality, embedder, "/36", None)}
    tag = f"/36/{quality.embedder}"
    assert quality.embedder.startswith(embedder.name + "-idf-")  # fitted on the answers
    assert figures[f"quality_hit_at_1{tag}"] == round(hit1, 4)
    assert figures[f"glimpse_answer_rate{tag}@0.3"] == round(quality.glimpse(0.3)[1], 4)
    assert figures[f"revise_precision{tag}@0.25"] == round(quality.revise(0.25)[0], 4)
    print_tradeoff(quality, "stdlib docstrings")
    assert "calibrated: glimpse" in capsys.readouterr().out
