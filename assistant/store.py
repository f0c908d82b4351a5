"""Chroma as the vector store: collections named by embedder, built aside and switched atomically."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from assistant.config import Settings
from assistant.documents import Chunk
from assistant.embeddings import Embedder, Vectors

BATCH = 64
Progress = Callable[[int], None]


@dataclass
class Hit:
    chunk_id: str
    score: float


@dataclass
class BuildReport:
    collection: str
    chunks: int
    embedded: int
    reused: int
    seconds: float


class Store(Protocol):
    """What retrieval and ingest need from a vector store."""

    def live_chunks(self) -> list[Chunk]: ...

    def query(self, vector: Vectors, k: int, where: dict[str, Any] | None = None) -> list[Hit]: ...

    def build(
        self, chunks: Sequence[Chunk], fingerprint: str, progress: Progress | None = None
    ) -> BuildReport: ...

    def live_fingerprint(self) -> str | None: ...


def chroma_client(settings: Settings) -> ClientAPI:
    """Embedded Chroma under the data folder, or a Chroma server when ASSISTANT_CHROMA_URL is set."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class ChromaStore:
    """One collection per build; a small pointer collection names the live one.

    A build writes a new collection and only then moves the pointer, so a crash mid-ingest
    leaves the previous index serving. Vectors of unchanged chunks (same content hash) are
    copied from the live collection instead of being embedded again.
    """

    def __init__(self, client: ClientAPI, embedder: Embedder) -> None:
        self.client = client
        self.embedder = embedder
        self.prefix = f"kb-{embedder.id}-{embedder.dim}"
        self._pointer_name = f"live-{embedder.id}-{embedder.dim}"
        # (name, handle) of the build last read, replaced as one value: threads share the store.
        self._opened: tuple[str, Collection] | None = None

    # pointer -----------------------------------------------------------------
    def _pointer(self) -> dict[str, Any]:
        pointer = self.client.get_or_create_collection(self._pointer_name, embedding_function=None)
        return dict(pointer.metadata or {})

    def _set_pointer(self, name: str, fingerprint: str) -> None:
        pointer = self.client.get_or_create_collection(self._pointer_name, embedding_function=None)
        pointer.modify(metadata={"collection": name, "fingerprint": fingerprint, "built_at": time.time()})

    def live_name(self) -> str | None:
        name = self._pointer().get("collection")
        return str(name) if name else None

    def live_fingerprint(self) -> str | None:
        value = self._pointer().get("fingerprint")
        return str(value) if value else None

    def live_collection(self) -> Collection | None:
        name = self.live_name()
        return None if name is None else self._named(name)

    def _named(self, name: str) -> Collection:
        opened = self._opened
        if opened is None or opened[0] != name:
            opened = self._opened = (name, self.client.get_collection(name, embedding_function=None))
        return opened[1]

    # reading -----------------------------------------------------------------
    def live_chunks(self) -> list[Chunk]:
        collection = self.live_collection()
        if collection is None:
            return []
        data = collection.get(include=["documents", "metadatas"])
        documents = data["documents"] or []
        metadatas = data["metadatas"] or []
        chunks = [
            Chunk.from_metadata(cid, doc, dict(meta))
            for cid, doc, meta in zip(data["ids"], documents, metadatas, strict=True)
        ]
        return sorted(chunks, key=lambda c: (c.doc_id, int(c.id.rsplit("#", 1)[-1])))

    def live_vectors(self) -> dict[str, Vectors]:
        """The stored vector of every live chunk (small: a few MB for thousands of chunks)."""
        collection = self.live_collection()
        if collection is None:
            return {}
        data = collection.get(include=["embeddings"])
        embeddings = data["embeddings"]
        if embeddings is None:
            return {}
        return {cid: np.asarray(v, dtype=np.float32) for cid, v in zip(data["ids"], embeddings, strict=True)}

    def query(
        self, vector: Vectors, k: int, where: dict[str, Any] | None = None, name: str | None = None
    ) -> list[Hit]:
        """The k nearest chunks; `name` is the build the caller already knows is live (saves reading the
        pointer on every question). If that build has been dropped meanwhile, the live one is asked."""
        if k <= 0:
            return []
        arguments: dict[str, Any] = {
            "query_embeddings": [vector.tolist()],
            "n_results": k,
            "where": where or None,
            "include": ["distances"],
        }
        try:
            collection = self._named(name) if name else self.live_collection()
            if collection is None:
                return []
            result = collection.query(**arguments)
        except Exception:  # noqa: BLE001 - chromadb raises several types for a dropped collection
            if not name:
                raise
            self._opened = None
            collection = self.live_collection()
            if collection is None:
                return []
            result = collection.query(**arguments)
        ids = result["ids"][0]
        distances = (result["distances"] or [[]])[0]
        return [Hit(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]

    # building ----------------------------------------------------------------
    def _known_vectors(self) -> dict[str, list[float]]:
        collection = self.live_collection()
        if collection is None:
            return {}
        data = collection.get(include=["metadatas", "embeddings"])
        embeddings = data["embeddings"]
        if embeddings is None:
            return {}
        return {
            str(meta["hash"]): list(map(float, vector))
            for meta, vector in zip(data["metadatas"] or [], embeddings, strict=True)
        }

    def build(
        self, chunks: Sequence[Chunk], fingerprint: str, progress: Progress | None = None, reuse: bool = True
    ) -> BuildReport:
        """Build a complete new collection, then make it live; returns what was embedded and reused."""
        started = time.perf_counter()
        known = self._known_vectors() if reuse else {}
        previous = self.live_name()
        name = f"{self.prefix}-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        collection = self.client.create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine", "complete": False}
        )
        embedded = reused = 0
        try:
            for offset in range(0, len(chunks), BATCH):
                batch = list(chunks[offset : offset + BATCH])
                vectors: list[list[float] | None] = [known.get(c.content_hash) for c in batch]
                missing = [i for i, v in enumerate(vectors) if v is None]
                if missing:
                    fresh = self.embedder.embed_passages([batch[i].embed_text for i in missing])
                    for i, vector in zip(missing, fresh, strict=True):
                        vectors[i] = np.asarray(vector, dtype=np.float32).tolist()
                embedded += len(missing)
                reused += len(batch) - len(missing)
                collection.add(
                    ids=[c.id for c in batch],
                    embeddings=np.asarray(vectors, dtype=np.float32),
                    documents=[c.text for c in batch],
                    metadatas=[c.to_metadata() for c in batch],  # type: ignore[misc]
                )
                if progress:
                    progress(len(batch))
            if collection.count() != len(chunks):
                raise RuntimeError(f"index build incomplete: {collection.count()} of {len(chunks)} chunks")
        except BaseException:
            self.client.delete_collection(name)
            raise
        self._set_pointer(name, fingerprint)
        # The previous build stays one generation, so a serving process can switch over calmly.
        self._drop_stale(keep={name, previous or name})
        if previous and previous != name:
            self._opened = None
        return BuildReport(name, len(chunks), embedded, reused, time.perf_counter() - started)

    def _drop_stale(self, keep: set[str]) -> None:
        """Remove earlier builds of this embedder (and leftovers of crashed ones)."""
        for collection in self.client.list_collections():
            name = collection.name if hasattr(collection, "name") else str(collection)
            if name.startswith(self.prefix + "-") and name not in keep:
                self.client.delete_collection(name)
