"""Generated text corpora for the pattern-engine benchmark, deterministic per seed.

Two corpora, both of failure reports made of pseudo-words (so no real text is needed) and
the vocabulary failures share ("timeout", "connection", "denied", ...):

- :class:`ZipfCorpus`, the one the targets are measured on. Word frequencies follow Zipf's
  law, as they do in every natural-language corpus: a few shared words are everywhere, most
  words are rare. Each text is about one topic; topic popularity is long-tailed too (a few
  failure kinds are common, most are rare), and within a topic some words are more typical
  than others. Texts are 8 to 29 words long. Under the default embedder a query's top
  neighbours score about 0.6 and the 3rd and 4th differ by about 0.008 in similarity
  (median), so telling them apart still takes a good index.
- :class:`FlatClusterCorpus`, a stress case: 2,000 equally popular topics of 12 equally
  likely words each, so each query sits in a cluster of about 50 near-identical neighbours
  (the 3rd and 4th differ by about 0.007, from a top score of about 0.5). Real corpora are
  not this flat; the benchmark reports it beside the Zipf corpus to show how the index
  degrades when the nearest neighbours are nearly tied.
"""

from __future__ import annotations

import random
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ("COMMON_WORDS", "Corpus", "FlatClusterCorpus", "ZipfCorpus")

COMMON_WORDS = [
    "failed",
    "error",
    "retry",
    "request",
    "response",
    "timeout",
    "connection",
    "service",
    "worker",
    "job",
    "queue",
    "database",
    "write",
    "read",
    "lock",
    "host",
    "port",
    "token",
    "user",
    "order",
    "payment",
    "invoice",
    "cache",
    "disk",
    "memory",
    "upstream",
    "downstream",
    "client",
    "server",
    "handler",
    "message",
    "topic",
    "batch",
    "record",
    "update",
    "insert",
    "deadline",
    "limit",
    "quota",
    "denied",
    "refused",
    "expired",
    "invalid",
    "missing",
    "unavailable",
    "restart",
]

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "nu",
    "pe",
    "ra",
    "si",
    "to",
    "ve",
    "xa",
    "zo",
    "qui",
    "bren",
    "dal",
    "fen",
    "gor",
    "hul",
    "jin",
    "kes",
    "lam",
    "mor",
    "nax",
    "tre",
    "op",
    "ul",
    "sta",
    "ric",
    "an",
    "el",
    "ith",
    "ong",
    "pla",
    "dre",
    "vor",
    "sen",
    "ba",
    "cu",
    "gli",
    "wen",
    "yo",
]


class Corpus(Protocol):
    """A source of generated texts."""

    name: str

    def texts(self, n: int) -> list[str]:
        """Return the next ``n`` texts."""
        ...


def _pseudo_words(rng: random.Random, count: int, syllables: list[str]) -> list[str]:
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _zipf_cdf(n: int, exponent: float) -> npt.NDArray[np.float64]:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    cdf: npt.NDArray[np.float64] = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


class ZipfCorpus:
    """Texts with Zipfian word frequencies and long-tailed topic popularity."""

    name = "zipf"

    def __init__(
        self,
        seed: int = 7,
        *,
        vocabulary: int = 30_000,
        topics: int = 5_000,
        topic_words: int = 25,
        topic_share: float = 0.55,
    ) -> None:
        """Draw the vocabulary and the topics.

        Args:
            seed: Seed of every random draw.
            vocabulary: Pseudo-words besides the shared failure words.
            topics: Number of topics.
            topic_words: Words typical of each topic.
            topic_share: Expected share of a text's words drawn from its topic.
        """
        rng = random.Random(seed)
        self._np = np.random.default_rng(seed)
        # The shared failure words take the most frequent ranks.
        self._vocab = np.array(COMMON_WORDS + _pseudo_words(rng, vocabulary, _SYLLABLES))
        self._word_cdf = _zipf_cdf(len(self._vocab), 1.05)
        # Topic words avoid the 200 most frequent words, which belong to every topic.
        self._topics = np.stack(
            [
                self._np.choice(len(self._vocab) - 200, size=topic_words, replace=False) + 200
                for _ in range(topics)
            ]
        )
        self._in_topic_cdf = _zipf_cdf(topic_words, 0.9)
        self._topic_cdf = _zipf_cdf(topics, 0.8)
        self._share = topic_share

    def texts(self, n: int) -> list[str]:
        """Return the next ``n`` texts, each ending in a numeric id."""
        gen = self._np
        topics = np.searchsorted(self._topic_cdf, gen.random(n))
        lengths = gen.integers(8, 30, size=n)
        in_topic = gen.binomial(lengths, self._share)
        ranks = np.searchsorted(self._in_topic_cdf, gen.random(int(in_topic.sum())))
        topic_words = self._vocab[self._topics[np.repeat(topics, in_topic), ranks]].tolist()
        other = np.searchsorted(self._word_cdf, gen.random(int((lengths - in_topic).sum())))
        other_words = self._vocab[other].tolist()
        ids = gen.integers(10**6, size=n).tolist()
        out: list[str] = []
        t = o = 0
        for i in range(n):
            a, b = int(in_topic[i]), int(lengths[i] - in_topic[i])
            words = topic_words[t : t + a] + other_words[o : o + b]
            t, o = t + a, o + b
            gen_order = gen.permutation(len(words)).tolist()
            out.append(" ".join(words[j] for j in gen_order) + f" id {ids[i]}")
        return out


class FlatClusterCorpus:
    """Texts on equally popular topics of equally likely words: a near-tie stress case."""

    name = "flat-clusters"

    def __init__(self, seed: int = 7, topics: int = 2000) -> None:
        """Draw a 6,000-word vocabulary and ``topics`` topics of 12 words and 3 shared words."""
        rng = random.Random(seed)
        self._rng = rng
        vocab = _pseudo_words(rng, 6000, _SYLLABLES[:22])
        self._vocab = vocab
        self._topics = [rng.sample(vocab, 12) + rng.sample(COMMON_WORDS, 3) for _ in range(topics)]

    def text(self) -> str:
        """Return one text: mostly topic words, some shared words, an id."""
        rng = self._rng
        topic = rng.choice(self._topics)
        words = [rng.choice(topic) for _ in range(rng.randint(4, 10))]
        words += [rng.choice(COMMON_WORDS) for _ in range(rng.randint(3, 8))]
        words += [rng.choice(self._vocab) for _ in range(rng.randint(1, 5))]
        rng.shuffle(words)
        words.append(f"id {rng.randrange(10**6)}")
        return " ".join(words)

    def texts(self, n: int) -> list[str]:
        """Return the next ``n`` texts."""
        return [self.text() for _ in range(n)]
