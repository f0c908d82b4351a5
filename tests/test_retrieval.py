"""Hybrid retrieval against the single retrievers, on the labelled golden questions (test split)."""

from __future__ import annotations

import json

import pytest

from assistant.retrieval import Filters, Retriever
from assistant.service import Assistant
from tests.conftest import ROOT


def _ranks(assistant: Assistant, mode: str) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for line in (ROOT / "evals" / "datasets" / "golden.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["split"] != "test" or not item["expected_sources"]:
            continue
        hits = assistant.retriever.search(" ".join(item["turns"]), k=5, mode=mode)  # type: ignore[arg-type]
        docs = [h.chunk.doc_id for h in hits]
        found = [i for i, doc in enumerate(docs, start=1) if doc in item["expected_sources"]]
        ranks[item["id"]] = found[0] if found else 0
    return ranks


def _mrr(ranks: dict[str, int]) -> float:
    return sum(1 / r for r in ranks.values() if r) / len(ranks)


def test_hybrid_beats_dense_only_and_bm25_only(full_assistant: Assistant) -> None:
    dense, bm25, hybrid = (_ranks(full_assistant, mode) for mode in ("dense", "bm25", "hybrid"))
    assert len(hybrid) >= 100
    assert _mrr(hybrid) > _mrr(dense) and _mrr(hybrid) > _mrr(bm25)
    rescued = [q for q, rank in hybrid.items() if rank == 1 and (dense[q] != 1 or bm25[q] != 1)]
    assert rescued, "some questions are ranked right only by the fused retriever"
    assert any(dense[q] != 1 for q in rescued), "hybrid fixes a question dense-only gets wrong"


def test_filters_restrict_sectors_and_keep_untagged_documents(full_assistant: Assistant) -> None:
    hits = full_assistant.retriever.search("Hoe word ik docent?", Filters(sectors=["mbo"]), k=8)
    assert hits
    assert all(not h.chunk.sectors or "mbo" in h.chunk.sectors for h in hits)
    faqs = full_assistant.retriever.search("Hoe word ik docent?", Filters(collections=["faq"]), k=5)
    assert faqs and all(h.chunk.collection == "faq" for h in faqs)


def test_at_most_two_chunks_per_document(full_assistant: Assistant) -> None:
    hits = full_assistant.retriever.search("zij-instroom voorwaarden geschiktheidsonderzoek subsidie", k=10)
    per_doc: dict[str, int] = {}
    for hit in hits:
        per_doc[hit.chunk.doc_id] = per_doc.get(hit.chunk.doc_id, 0) + 1
    assert max(per_doc.values()) <= full_assistant.settings.max_chunks_per_doc


def test_in_memory_dense_search_matches_chroma(full_assistant: Assistant) -> None:
    """The default exact search over the live vectors agrees with a query through Chroma's HNSW index."""
    settings = full_assistant.settings
    memory = Retriever(full_assistant.store, settings.model_copy(update={"dense_search": "memory"}))
    chroma = Retriever(full_assistant.store, settings.model_copy(update={"dense_search": "chroma"}))
    assert memory.index.matrix is not None and memory.index.matrix.shape[0] == len(memory.index.chunks)
    lines = (ROOT / "evals" / "datasets" / "golden.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [" ".join(json.loads(line)["turns"]) for line in lines][:60]
    filters = [Filters(), Filters(sectors=["mbo"]), Filters(collections=["faq"], roles=["leraar"])]
    same = total = 0
    for i, question in enumerate(questions):
        f = filters[i % len(filters)]
        a = memory.search(question, f, k=5, mode="dense")
        b = chroma.search(question, f, k=5, mode="dense")
        assert all(f.admits(h.chunk) for h in a)
        total += 1
        same += [h.chunk.id for h in a] == [h.chunk.id for h in b]
        for x, y in zip(a, b, strict=False):
            if x.chunk.id == y.chunk.id:
                assert abs(x.dense - y.dense) < 1e-3, "the same cosine similarity either way"
    assert same / total >= 0.95, f"{same}/{total} identical top-5 lists"


def test_english_questions_are_searched_with_the_dutch_words_of_the_glossary(
    full_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = full_assistant.prompts
    words = prompts.dutch_search_words(
        "How do I get a second-degree teaching qualification via lateral entry?"
    )
    assert {"tweedegraads", "bevoegdheid", "zij-instroom"} <= set(words.split())
    assert prompts.dutch_search_words("Wat verdient een leraar?") == ""  # nothing English in it
    embedder = full_assistant.embedder
    embed, texts = embedder.embed_query, []
    monkeypatch.setattr(embedder, "embed_query", lambda text: texts.append(text) or embed(text))
    turn = full_assistant.ask("How do I become a primary school teacher in the Netherlands?")
    # The classifier and the retriever read one embedding: the question with its Dutch search words.
    assert len(set(texts)) == 1 and "leraar" in texts[0], texts
    assert turn.language == "en" and turn.status == "answered"
    docs = [hit.chunk.doc_id for hit in turn.retrieved]
    assert "art-pabo-voltijd" in docs, docs
    without = full_assistant.retriever.search("How do I become a primary school teacher in the Netherlands?")
    assert "art-pabo-voltijd" not in [hit.chunk.doc_id for hit in without], "the glossary made the difference"


def test_an_offline_follow_up_swaps_the_term_it_names(full_assistant: Assistant) -> None:
    prompts = full_assistant.prompts
    assert prompts.carry_over("Hoe lang duurt de deeltijdpabo?", "En de voltijd?").startswith(
        "Hoe lang duurt de voltijdpabo?"
    )
    assert prompts.carry_over("Hoe word ik leraar Engels?", "en Duits?").startswith(
        "Hoe word ik leraar Duits?"
    )
    # Two terms of one kind: nothing is swapped, the previous question is kept whole.
    kept = prompts.carry_over("Hoe word ik leraar Engels?", "en wiskunde of Duits?")
    assert kept.startswith("Hoe word ik leraar Engels?")
    first = full_assistant.ask("Hoe word ik leraar in het basisonderwijs?")
    turn = full_assistant.ask("en in het mbo?", conversation_id=first.conversation_id)
    assert turn.condensed_by == "carry_over" and "basisonderwijs" not in turn.question
    docs = [hit.chunk.doc_id for hit in turn.retrieved]
    assert "art-docent-worden-in-het-mbo" in docs and "art-pabo-voltijd" not in docs, docs
