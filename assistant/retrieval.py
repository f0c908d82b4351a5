"""Hybrid retrieval: dense (e5 vectors from Chroma) and BM25 with Dutch stemming, fused (convex or RRF)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import bm25s
import numpy as np
from pydantic import BaseModel, Field

from assistant.config import Settings
from assistant.documents import Chunk
from assistant.errors import IndexNotReadyError
from assistant.store import ChromaStore
from assistant.tokens import stems

Mode = Literal["hybrid", "dense", "bm25"]


class Filters(BaseModel):
    """Metadata filters: a chunk passes when it shares a value, or is not tagged at all."""

    sectors: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    collections: list[str] = Field(default_factory=list)

    def admits(self, chunk: Chunk) -> bool:
        if self.sectors and chunk.sectors and not set(self.sectors) & set(chunk.sectors):
            return False
        if self.roles and chunk.roles and not set(self.roles) & set(chunk.roles):
            return False
        return not (self.collections and chunk.collection not in self.collections)

    def where(self) -> dict[str, Any] | None:
        """The same filter for Chroma (lists are stored as one flag per value)."""
        clauses: list[dict[str, Any]] = []
        if self.sectors:
            clauses.append({"$or": [{f"sector_{s}": True} for s in self.sectors] + [{"any_sector": True}]})
        if self.roles:
            clauses.append({"$or": [{f"role_{r}": True} for r in self.roles] + [{"any_role": True}]})
        if self.collections:
            clauses.append({"collection": {"$in": list(self.collections)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class Retrieved:
    chunk: Chunk
    score: float
    dense: float = 0.0  # cosine similarity, 0 when the dense retriever did not find it
    lexical: float = 0.0  # BM25 score, 0 when BM25 did not find it
    rank: int = 0


@dataclass
class Index:
    """The live chunks with their BM25 index, loaded from the store."""

    name: str | None
    chunks: list[Chunk]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    by_id: dict[str, Chunk] = field(init=False)
    bm25: bm25s.BM25 | None = field(init=False, default=None)

    matrix: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.chunks}
        if self.chunks:
            self.bm25 = bm25s.BM25(k1=1.2, b=0.75)
            corpus = [stems(f"{c.section} {c.text}") or ["_"] for c in self.chunks]
            self.bm25.index(corpus, show_progress=False)
        if self.chunks and all(c.id in self.vectors for c in self.chunks):
            self.matrix = np.stack([self.vectors[c.id] for c in self.chunks]).astype(np.float32)

    def dense_hits(self, vector: np.ndarray, k: int, filters: Filters) -> list[tuple[str, float]]:
        """Exact cosine search over the live vectors held in memory (they are L2-normalised)."""
        assert self.matrix is not None
        scores = self.matrix @ vector
        if filters.sectors or filters.roles or filters.collections:
            admitted = np.fromiter(
                (filters.admits(c) for c in self.chunks), dtype=bool, count=len(self.chunks)
            )
            scores = np.where(admitted, scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[int(i)].id, float(scores[i])) for i in top]

    def lexical_scores(self, query: str) -> np.ndarray:
        if self.bm25 is None:
            return np.zeros(0)
        vocab = self.bm25.vocab_dict
        terms = [t for t in stems(query) if t in vocab]
        if not terms:
            return np.zeros(len(self.chunks))
        return np.asarray(self.bm25.get_scores(terms))


class Retriever:
    """Finds the chunks that answer a question; reloads when a new index goes live."""

    def __init__(self, store: ChromaStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._index: Index | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    @property
    def index(self) -> Index:
        now = time.monotonic()
        if self._index is None or now - self._checked > 2.0:
            with self._lock:
                self._checked = now
                name = self.store.live_name()
                if self._index is None or name != self._index.name:
                    self._index = Index(name, self.store.live_chunks(), self.store.live_vectors())
        return self._index

    @property
    def ready(self) -> bool:
        return bool(self.index.chunks)

    def search(
        self, question: str, filters: Filters | None = None, k: int | None = None, mode: Mode = "hybrid"
    ) -> list[Retrieved]:
        """The top chunks for a question, at most a few per document."""
        index = self.index
        if not index.chunks:
            raise IndexNotReadyError("the index is empty: run `assistant ingest` first")
        filters = filters or Filters()
        k = k or self.settings.top_k
        depth = self.settings.candidates
        dense: dict[str, float] = {}
        lexical: dict[str, float] = {}
        vector = np.zeros(0, dtype=np.float32)
        if mode in ("hybrid", "dense"):
            vector = self.store.embedder.embed_query(question)
            if self._in_memory(index):
                dense.update(index.dense_hits(vector, depth, filters))
            else:
                for hit in self.store.query(vector, depth, filters.where(), name=index.name):
                    dense[hit.chunk_id] = hit.score
        if mode in ("hybrid", "bm25"):
            scores = index.lexical_scores(question)
            order = np.argsort(-scores)
            for i in order:
                if len(lexical) >= depth or scores[i] <= 0:
                    break
                chunk = index.chunks[int(i)]
                if filters.admits(chunk):
                    lexical[chunk.id] = float(scores[i])
        if mode == "hybrid" and self.settings.fusion == "convex":
            fused = self._convex(index, vector, dense, lexical)
        else:
            fused = self._fuse(dense, lexical, mode)
        per_doc: dict[str, int] = defaultdict(int)
        results: list[Retrieved] = []
        for chunk_id, score in fused:
            found = index.by_id.get(chunk_id)
            if found is None or per_doc[found.doc_id] >= self.settings.max_chunks_per_doc:
                continue
            per_doc[found.doc_id] += 1
            results.append(
                Retrieved(
                    found, score, dense.get(chunk_id, 0.0), lexical.get(chunk_id, 0.0), len(results) + 1
                )
            )
            if len(results) >= k:
                break
        return results

    def _in_memory(self, index: Index) -> bool:
        """Small indexes are searched exactly in memory (faster than a store round trip, and exact);
        large ones, or `dense_search=chroma`, through Chroma's HNSW index."""
        mode = self.settings.dense_search
        if index.matrix is None or mode == "chroma":
            return False
        return mode == "memory" or len(index.chunks) <= self.settings.dense_memory_limit

    def _convex(
        self, index: Index, vector: np.ndarray, dense: dict[str, float], lexical: dict[str, float]
    ) -> list[tuple[str, float]]:
        """Cosine similarity plus a small, max-normalised BM25 nudge, over both candidate lists.

        e5 similarities sit in a narrow band, so rank fusion throws away what dense retrieval knows;
        a weighted sum keeps it and lets exact terms (names, abbreviations) break near-ties.
        """
        top = max(lexical.values(), default=0.0) or 1.0
        fused: dict[str, float] = {}
        for chunk_id in set(dense) | set(lexical):
            similarity = dense.get(chunk_id)
            if similarity is None:
                stored = index.vectors.get(chunk_id)
                similarity = float(stored @ vector) if stored is not None else 0.0
                dense[chunk_id] = similarity
            fused[chunk_id] = similarity + self.settings.bm25_weight * lexical.get(chunk_id, 0.0) / top
        return sorted(fused.items(), key=lambda item: -item[1])

    def _fuse(
        self, dense: dict[str, float], lexical: dict[str, float], mode: Mode
    ) -> list[tuple[str, float]]:
        rrf_k = self.settings.rrf_k
        weights = {"dense": self.settings.dense_weight, "bm25": self.settings.bm25_weight}
        fused: dict[str, float] = defaultdict(float)
        for name, ranking in (("dense", dense), ("bm25", lexical)):
            ordered = sorted(ranking.items(), key=lambda item: -item[1])
            for rank, (chunk_id, _) in enumerate(ordered, start=1):
                fused[chunk_id] += weights[name] / (rrf_k + rank)
        return sorted(fused.items(), key=lambda item: -item[1])
