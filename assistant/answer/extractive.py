"""The offline composer: the best-supported sentences of the top chunks, each cited."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.retrieval import Retrieved
from assistant.tokens import sentences, stems

MAX_SENTENCES = 5
MAX_CHARS = 900
WHOLE_CHUNK_CHARS = 1000


@dataclass
class Candidate:
    source: int  # 1-based position in the retrieved list
    order: int
    text: str
    score: float


@lru_cache(maxsize=4096)
def _answer_sentences(text: str, title: str) -> tuple[tuple[int, str, frozenset[str]], ...]:
    """(position, sentence, its stems) of a chunk's sentences that can answer something.

    Chunks come back for question after question, so this is worked out once per chunk text.
    """
    lines = sentences(text)
    if title and lines and lines[0].strip() == title.strip():
        lines = lines[1:]  # a FAQ's question itself is not an answer
    usable = []
    for order, sentence in enumerate(lines):
        words = stems(sentence)
        if len(words) < 3 or sentence.endswith("?") or sentence.endswith(":"):
            continue
        usable.append((order, sentence, frozenset(words)))
    return tuple(usable)


def _candidates(question: str, retrieved: Sequence[Retrieved]) -> list[Candidate]:
    wanted = set(stems(question))
    candidates: list[Candidate] = []
    for position, hit in enumerate(retrieved, start=1):
        prior = 1.0 / position
        title = hit.chunk.title if hit.chunk.collection == "faq" else ""
        for order, sentence, words in _answer_sentences(hit.chunk.text, title):
            overlap = len(wanted & words)
            score = overlap / math.sqrt(len(words) + 2) + 0.6 * prior + (0.15 if order == 0 else 0.0)
            candidates.append(Candidate(position, order, sentence, score))
    return candidates


def extractive_answer(
    question: str,
    retrieved: Sequence[Retrieved],
    quote: bool = False,
    reject: Callable[[str], bool] = lambda _sentence: False,
) -> str:
    """A short answer with [n] markers, built only from sentences of the retrieved chunks.

    `reject` drops sentences that must never be repeated, such as instructions planted in a document.
    """
    if not retrieved:
        return ""
    # Planted instructions are dropped before anything is chosen, so they never take a place in the answer.
    candidates = [c for c in _candidates(question, retrieved) if not reject(c.text)]
    chosen: list[Candidate] = []
    length = 0
    primary = [c for c in candidates if c.source == 1]
    others = [c for c in candidates if c.source != 1]
    # Mostly the best chunk (it reads coherently), topped up by the strongest sentence of another.
    primary_limit = MAX_SENTENCES - 1
    if sum(len(c.text) for c in primary) <= WHOLE_CHUNK_CHARS:
        # A short best chunk (a FAQ answer, a compact section) reads best whole.
        primary_limit = len(primary)
    budget = max(MAX_CHARS, WHOLE_CHUNK_CHARS + 250)
    for pool, limit in ((primary, primary_limit), (others, 2)):
        taken = 0
        for candidate in sorted(pool, key=lambda c: -c.score):
            if taken >= limit or length + len(candidate.text) > budget:
                continue
            chosen.append(candidate)
            taken += 1
            length += len(candidate.text)
    if not chosen:
        return ""
    paragraphs: list[str] = []
    for source in sorted({c.source for c in chosen}):
        picked = sorted((c for c in chosen if c.source == source), key=lambda c: c.order)
        body = " ".join(c.text for c in picked)
        paragraphs.append(f"{body} [{source}]")
    if quote:
        return "\n>\n".join("> " + p for p in paragraphs)
    return "\n\n".join(paragraphs)
