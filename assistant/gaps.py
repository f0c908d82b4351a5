"""Content-gap report: the questions the knowledge base did not answer well, grouped by meaning.

A question counts when its answer was a no-answer (not a technical error), was answered with a low
answerability score (below ASSISTANT_GAP_SCORE_THRESHOLD), or got a thumbs down. The questions are embedded
with the configured embedder and clustered by average-linkage agglomeration on cosine similarity (stopping at
ASSISTANT_GAP_CLUSTER_SIMILARITY); the largest clusters come first, each with a few example questions.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.embeddings import Embedder
from assistant.storage import feedback, messages

EXAMPLES = 5
NOT_A_GAP = ("error",)  # a technical failure says nothing about the content
NO_SCORE_REASONS = ("greeting", "handoff")


@dataclass
class GapQuestion:
    conversation_id: str
    text: str
    why: list[str]  # no_answer, low_score, negative_feedback
    score: float | None
    asked_at: datetime | None


@dataclass
class GapCluster:
    size: int  # questions in the cluster (repeats included)
    examples: list[str]  # up to five, the most typical first
    why: dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    mean_score: float | None = None


def collect(
    engine: Engine, since: datetime | None = None, score_threshold: float = 0.86
) -> list[GapQuestion]:
    """The user questions whose answer was a content gap (oldest first)."""
    with engine.connect() as conn:
        query = select(
            messages.c.conversation_id,
            messages.c.idx,
            messages.c.role,
            messages.c.text,
            messages.c.blocked,
            messages.c.status,
            messages.c.reason,
            messages.c.score,
            messages.c.created_at,
        ).order_by(messages.c.conversation_id, messages.c.idx)
        if since is not None:
            query = query.where(messages.c.created_at >= since)
        rows = conn.execute(query).all()
        ratings: dict[tuple[str, int], str] = {}
        for fb in conn.execute(
            select(feedback.c.conversation_id, feedback.c.message_index, feedback.c.rating).order_by(
                feedback.c.id
            )
        ):
            ratings[(fb.conversation_id, fb.message_index)] = fb.rating  # the latest rating counts
        answers = _answers_before(conn, {r.conversation_id for r in rows}, since)
    found: list[GapQuestion] = []
    previous: Any = None
    for row in rows:
        if row.role == "assistant":
            answer_index = answers.get(row.conversation_id, 0)
            answers[row.conversation_id] = answer_index + 1
            question = (
                previous if previous is not None and previous.conversation_id == row.conversation_id else None
            )
            why = _why(row, ratings.get((row.conversation_id, answer_index)), score_threshold)
            if question is not None and why and not row.blocked and question.text.strip():
                found.append(
                    GapQuestion(
                        conversation_id=row.conversation_id,
                        text=question.text.strip(),
                        why=why,
                        score=_score(row.score),
                        asked_at=question.created_at,
                    )
                )
        previous = row
    return found


def _answers_before(conn: Any, conversation_ids: set[str], since: datetime | None) -> dict[str, int]:
    """With --since, answers before that moment still count towards feedback's message_index."""
    if since is None or not conversation_ids:
        return {}
    counts: Counter[str] = Counter()
    ids = sorted(conversation_ids)
    for start in range(0, len(ids), 500):
        for row in conn.execute(
            select(messages.c.conversation_id).where(
                messages.c.conversation_id.in_(ids[start : start + 500]),
                messages.c.role == "assistant",
                messages.c.created_at < since,
            )
        ):
            counts[row.conversation_id] += 1
    return dict(counts)


def _score(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _why(row: Any, rating: str | None, threshold: float) -> list[str]:
    why: list[str] = []
    score = _score(row.score)
    if row.status == "no_answer" and row.reason not in NOT_A_GAP:
        why.append("no_answer")
    elif (
        row.status == "answered"
        and score is not None
        and score < threshold
        and row.reason not in NO_SCORE_REASONS
    ):
        why.append("low_score")
    if rating == "down":
        why.append("negative_feedback")
    return why


# --- clustering -----------------------------------------------------------------------------------------
def agglomerate(
    vectors: npt.NDArray[np.floating[Any]], threshold: float, weights: Sequence[float] | None = None
) -> list[list[int]]:
    """Average-linkage agglomerative clustering on cosine similarity: keep merging the two most similar
    clusters while their (weighted) average pairwise similarity is at least `threshold`.

    O(n^2) memory and roughly O(n^3) time in the worst case: fine for the few thousand questions of a report.
    """
    n = len(vectors)
    if n == 0:
        return []
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    sizes = np.asarray(weights if weights is not None else np.ones(n), dtype=np.float64).copy()
    members: list[list[int]] = [[i] for i in range(n)]
    while n > 1:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, n)
        if not sim[i, j] >= threshold:
            break
        merged = (sizes[i] * sim[i] + sizes[j] * sim[j]) / (sizes[i] + sizes[j])
        sim[i, :] = merged
        sim[:, i] = merged
        sim[i, i] = -np.inf
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        sizes[i] += sizes[j]
        members[i].extend(members[j])
        members[j] = []
    return [sorted(m) for m in members if m]


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def cluster_questions(
    questions: list[GapQuestion], embedder: Embedder, similarity: float, min_size: int = 2
) -> list[GapCluster]:
    """Group questions by meaning; clusters with at least `min_size` questions, largest first."""
    wordings: dict[str, Counter[str]] = {}
    counts: Counter[str] = Counter()
    for q in questions:
        key = _key(q.text)
        wordings.setdefault(key, Counter())[q.text] += 1
        counts[key] += 1
    # The wording people used most stands for its key (not whichever row the database returned first).
    texts = {key: found.most_common(1)[0][0] for key, found in wordings.items()}
    keys = list(texts)
    if not keys:
        return []
    vectors = np.asarray([embedder.embed_query(texts[k]) for k in keys], dtype=np.float32)
    groups = agglomerate(vectors, similarity, weights=[counts[k] for k in keys])
    normed = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    by_key: dict[str, list[GapQuestion]] = {}
    for q in questions:
        by_key.setdefault(_key(q.text), []).append(q)
    clusters: list[GapCluster] = []
    for group in groups:
        members = [keys[i] for i in group]
        size = sum(counts[k] for k in members)
        if size < min_size:
            continue
        centroid = normed[group].mean(axis=0)
        closeness = {keys[i]: float(normed[i] @ centroid) for i in group}
        ordered = sorted(members, key=lambda k: (-counts[k], -closeness[k]))
        asked = [q for k in members for q in by_key[k]]
        why: Counter[str] = Counter(reason for q in asked for reason in q.why)
        scores = [q.score for q in asked if q.score is not None]
        clusters.append(
            GapCluster(
                size=size,
                examples=[texts[k] for k in ordered[:EXAMPLES]],
                why=dict(why.most_common()),
                conversations=len({q.conversation_id for q in asked}),
                mean_score=round(sum(scores) / len(scores), 4) if scores else None,
            )
        )
    clusters.sort(key=lambda c: (-c.size, -c.conversations, c.examples[0]))
    return clusters


def gap_report(
    engine: Engine,
    embedder: Embedder,
    since: datetime | None = None,
    min_size: int = 2,
    score_threshold: float = 0.86,
    similarity: float = 0.89,
) -> list[GapCluster]:
    return cluster_questions(collect(engine, since, score_threshold), embedder, similarity, min_size)


# --- output ---------------------------------------------------------------------------------------------
def _why_text(why: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in why.items())


def as_table(clusters: list[GapCluster]) -> Table:
    table = Table("#", "questions", "conversations", "why", "mean score", "examples", title="Content gaps")
    for n, c in enumerate(clusters, start=1):
        table.add_row(
            str(n),
            str(c.size),
            str(c.conversations),
            _why_text(c.why),
            "" if c.mean_score is None else f"{c.mean_score:.3f}",
            "\n".join(f"- {e}" for e in c.examples),
        )
    return table


def as_markdown(clusters: list[GapCluster], since: datetime | None = None) -> str:
    lines = ["# Content gaps", ""]
    lines.append(f"Questions since {since.date().isoformat()}." if since else "All stored questions.")
    lines.append("")
    if not clusters:
        lines.append("No clusters.")
    for n, c in enumerate(clusters, start=1):
        score = "" if c.mean_score is None else f", mean score {c.mean_score:.3f}"
        lines.append(
            f"## {n}. {c.size} questions in {c.conversations} conversations ({_why_text(c.why)}{score})"
        )
        lines.append("")
        lines += [f"- {e.replace(chr(10), ' ')}" for e in c.examples]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def as_json(clusters: list[GapCluster], since: datetime | None = None) -> str:
    body = {"since": since.isoformat() if since else None, "clusters": [asdict(c) for c in clusters]}
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
