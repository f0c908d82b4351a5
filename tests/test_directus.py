"""The Directus connector against a loopback fake of the platform's REST API (tests/directus_fake.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.documents import Document
from assistant.embeddings import HashEmbedder
from assistant.errors import ConfigurationError, UpstreamError
from assistant.ingest.chunking import chunks_of
from assistant.ingest.directus import (
    TAXONOMY_ALIASES,
    TAXONOMY_MULTI,
    DirectusSource,
    TranscriptError,
    parse_transcript,
    taxonomy_codes,
    tiptap_to_markdown,
)
from assistant.ingest.run import ingest
from assistant.retrieval import Filters, Retriever
from assistant.store import ChromaStore, chroma_client
from tests.conftest import ROOT, free_port, make_settings
from tests.directus_fake import TOKEN, FakeDirectus, fixture_items


class Sleeps(list[float]):
    """Records the waits instead of sleeping, so retry tests stay instant."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _source(fake: FakeDirectus, **kwargs: Any) -> DirectusSource:
    kwargs.setdefault("sleep", Sleeps())
    return DirectusSource(fake.url, TOKEN, **kwargs)


def _by_id(docs: list[Document]) -> dict[str, Document]:
    return {d.id: d for d in docs}


def _doc(
    body: dict[str, Any], editor_nodes: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": extra.pop("id", "x1"),
        "status": "published",
        "slug": extra.pop("slug", "proef"),
        "title": extra.pop("title", "Proefartikel"),
        "body": body,
        "editor_nodes": editor_nodes or [],
    }
    item.update(extra)
    return item


def _text(text: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": m} for m in marks]
    return node


def _para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


# --- the API: paging, query parameters, errors, retries --------------------------------------------


def test_pages_through_every_collection_with_the_documented_query() -> None:
    items = fixture_items()
    items["articles"].append({**items["articles"][1], "id": "draft-1", "slug": "concept", "status": "draft"})
    with FakeDirectus(items) as fake:
        docs = _source(fake, page_size=2).documents()

    ids = {d.id for d in docs}
    assert {
        "art-zij-instroom-in-het-beroep",
        "art-pdg-traject",
        "art-lerarenbeurs",
        "art-salaris-leraar",
        "art-vog-aanvragen",
    } <= ids
    assert "art-concept" not in ids, "the status filter keeps drafts out"
    assert len(docs) == 10
    article_requests = fake.requests_for("articles")
    assert [r["params"]["offset"] for r in article_requests] == ["0", "2", "4"]
    params = article_requests[0]["params"]
    assert params["limit"] == "2" and params["meta"] == "total_count"
    assert json.loads(params["filter"]) == {"status": {"_eq": "published"}}
    fields = params["fields"].split(",")
    assert "*" in fields and "topics.topics_id.*" in fields and "sectors.sectors_id.slug" in fields
    assert "editor_nodes.item:callouts.*" in fields and "sources.sources_id.*" in fields
    deep = json.loads(params["deep"])
    assert deep["editor_nodes"] == {"_limit": -1} and deep["faqs"] == {"_limit": -1}
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in fake.requests)
    # Two FAQs on pages of two: meta.total_count ends the paging without an empty extra page.
    assert [r["params"]["offset"] for r in fake.requests_for("faqs")] == ["0"]


def test_a_wrong_token_is_a_clear_error_naming_the_collection() -> None:
    with FakeDirectus() as fake:
        with pytest.raises(UpstreamError, match=r"collection 'articles': HTTP 401 \(INVALID_CREDENTIALS"):
            DirectusSource(fake.url, "wrong-token").documents()
        with pytest.raises(UpstreamError, match=r"'articles': HTTP 403 \(FORBIDDEN"):
            DirectusSource(fake.url).documents()
        fake.fail(403, collection="podcast_episodes")
        with pytest.raises(UpstreamError, match="podcast_episodes.*403.*field that does not exist"):
            _source(fake).documents()


def test_429_waits_for_retry_after_and_then_succeeds() -> None:
    with FakeDirectus() as fake:
        fake.fail((429, {"Retry-After": "0"}), collection="articles")
        sleeps = Sleeps()
        docs = _source(fake, sleep=sleeps).documents()
        assert len(docs) == 10
        assert sleeps == [0.0]
        assert [r["status"] for r in fake.requests_for("articles")][:2] == [429, 200]

        fake.fail((429, {"Retry-After": "7"}), (429, {}), collection="faqs")
        sleeps = Sleeps()
        _source(fake, sleep=sleeps, backoff=0.5).documents()
        assert sleeps == [7.0, 1.0], "Retry-After in seconds, else exponential backoff"


def test_server_errors_are_retried_with_backoff_then_give_up() -> None:
    with FakeDirectus() as fake:
        fake.fail(500, 503, collection="testimonials")
        sleeps = Sleeps()
        docs = _source(fake, sleep=sleeps, backoff=0.25).documents()
        assert "tst-van-accountant-naar-leraar-economie" in _by_id(docs)
        assert sleeps == [0.25, 0.5]

        fake.fail(500, 500, 500, collection="faqs")
        with pytest.raises(UpstreamError, match="faqs: server error HTTP 500.*after 3 attempts"):
            _source(fake, max_retries=2).documents()


def test_an_unreachable_server_is_an_upstream_error_after_retries() -> None:
    sleeps = Sleeps()
    source = DirectusSource(f"http://127.0.0.1:{free_port()}", TOKEN, max_retries=2, sleep=sleeps)
    with pytest.raises(UpstreamError, match="could not be reached for articles after 3 attempts"):
        source.documents()
    assert len(sleeps) == 2


def test_the_base_url_is_required() -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        DirectusSource("", TOKEN)
    with pytest.raises(ConfigurationError, match="http"):
        DirectusSource("content.onderwijsloket.com", TOKEN)


# --- items that cannot be read -----------------------------------------------------------------


def test_malformed_items_are_skipped_with_a_warning_and_the_rest_ingested() -> None:
    items = fixture_items()
    good = items["articles"][1]
    items["articles"] += [
        {**good, "id": "no-title", "slug": "zonder-titel", "title": None},
        {**good, "id": "bad-json", "slug": "kapot", "body": '{"type": "doc", "content": [ oeps'},
        {**good, "id": "not-a-doc", "slug": "geen-doc", "body": {"type": "paragraph", "content": []}},
        {**good, "id": "no-body", "slug": "leeg", "body": None},
        {**good, "id": None, "slug": "zonder-id"},
        {**good, "id": "dubbel", "slug": "pdg-traject"},
    ]
    episode = items["podcast_episodes"][0]
    items["podcast_episodes"] += [
        {**episode, "id": 201, "slug": "onleesbaar", "transcript_raw": "dit is geen transcript"},
        {**episode, "id": 202, "slug": "zonder-spreker", "transcript_raw": [{"start": 0, "text": "hallo"}]},
        {**episode, "id": 203, "slug": "zonder-transcript", "transcript_raw": None},
    ]
    warnings: list[str] = []
    with FakeDirectus(items) as fake:
        docs = _source(fake).documents(warn=warnings.append)

    ids = _by_id(docs)
    assert len(docs) == 10, "all the good items are still ingested"
    assert not {"art-zonder-titel", "art-kapot", "art-geen-doc", "art-leeg", "pod-onleesbaar"} & set(ids)
    text = "\n".join(warnings)
    assert "articles no-title: no title; skipped" in text
    assert "articles bad-json: unparsable body: looks like JSON but does not parse" in text
    assert "articles not-a-doc: unparsable body: not a Tiptap document" in text
    assert "articles no-body: no body; skipped" in text
    assert "articles None: no id; skipped" in text
    assert "articles dubbel: id art-pdg-traject already used" in text
    assert "podcast_episodes 201: transcript cannot be used (transcript_raw: no 'Name [mm:ss]: text'" in text
    assert "podcast_episodes 202: transcript cannot be used (transcript_raw: segment 1 has no speaker" in text
    assert "podcast_episodes 203: transcript cannot be used (no transcript" in text


def test_items_published_in_the_future_are_skipped() -> None:
    items = fixture_items()
    items["articles"][1]["publication_date"] = "2999-01-01T09:00:00"
    items["faqs"][0]["publication_date"] = "2999-01-01"
    warnings: list[str] = []
    with FakeDirectus(items) as fake:
        docs = _by_id(_source(fake).documents(warn=warnings.append))
    assert "art-pdg-traject" not in docs and "faq-wie-betaalt-het-geschiktheidsonderzoek" not in docs
    assert "art-lerarenbeurs" in docs
    assert any("publication_date 2999-01-01T09:00:00 is in the future" in w for w in warnings)
    # The article linked the FAQ: a related id that was not ingested is dropped.
    assert docs["art-zij-instroom-in-het-beroep"].related == []


# --- mapping onto our Document -------------------------------------------------------------------


def test_items_map_onto_our_ids_urls_taxonomy_sources_and_origin() -> None:
    warnings: list[str] = []
    with FakeDirectus() as fake:
        docs = _by_id(_source(fake).documents(warn=warnings.append))
        base = fake.url

    article = docs["art-zij-instroom-in-het-beroep"]
    assert article.collection == "article"
    assert article.url == "/kennisbank/artikelen/zij-instroom-in-het-beroep"
    assert article.summary.startswith("Via zij-instroom werk je meteen als leraar")
    assert article.sectors == ["vo", "po"]
    assert article.roles == ["leraar"]
    assert article.topics == ["zij-instroom"], "the unknown topic 'ruimtevaart' is dropped"
    assert article.tracks == ["zij-instroom"] and article.school_subjects == ["natuurkunde"]
    assert article.audiences == ["zij-instromers"]
    assert str(article.updated) == "2025-06-30"
    assert article.related == ["faq-wie-betaalt-het-geschiktheidsonderzoek"]
    assert [(s.title, s.url) for s in article.sources] == [
        ("Rijksoverheid: Zij-instroom", "https://www.rijksoverheid.nl/zij-instroom"),
        (
            "Onderwijsloket: Zij-instroom in het beroep",
            "https://onderwijsloket.com/kennisbank/artikelen/zij-instroom-in-het-beroep",
        ),
    ]
    assert article.origin == f"{base}/items/articles/00000000-0000-4000-8000-000000000001"
    assert docs["art-lerarenbeurs"].sectors == ["hbo", "wo"], "hoger onderwijs covers both"
    assert docs["art-pdg-traject"].topics == ["pdg"]

    faq = docs["faq-wie-betaalt-het-geschiktheidsonderzoek"]
    assert faq.title == "Wie betaalt het geschiktheidsonderzoek?"
    assert faq.url == "/kennisbank/veelgestelde-vragen/wie-betaalt-het-geschiktheidsonderzoek"
    assert faq.body.startswith("Meestal betaalt de school")
    assert docs["faq-kan-ik-parttime-lesgeven"].body == "Ja, veel scholen bieden **parttime** banen aan."

    story = docs["tst-van-accountant-naar-leraar-economie"]
    assert story.url == "/ervaringsverhalen/van-accountant-naar-leraar-economie"
    assert story.summary.startswith("Mila werkte tien jaar")
    assert (
        story.sources[-1].url
        == "https://onderwijsloket.com/ervaringsverhalen/van-accountant-naar-leraar-economie"
    )

    unknown = [w for w in warnings if "unknown value" in w]
    assert unknown == [
        "topics: unknown value 'ruimtevaart' dropped (no code in corpus/taxonomy.yaml; add an alias in "
        "TAXONOMY_ALIASES) - on articles 00000000-0000-4000-8000-000000000001"
    ]


def test_the_alias_table_uses_exactly_the_codes_of_taxonomy_yaml() -> None:
    taxonomy = yaml.safe_load((ROOT / "corpus" / "taxonomy.yaml").read_text(encoding="utf-8"))
    for field_name, codes in TAXONOMY_ALIASES.items():
        assert set(codes) == set(taxonomy[field_name]), field_name
    for field_name, multi in TAXONOMY_MULTI.items():
        assert {c for codes in multi.values() for c in codes} <= set(taxonomy[field_name])
    assert taxonomy_codes("sectors", "Primair Onderwijs") == ("po",)
    assert taxonomy_codes("sectors", "Werken in het mbo") == ("mbo",)
    assert taxonomy_codes("audiences", "Carrièreswitchers") == ("zij-instromers",)
    assert taxonomy_codes("topics", "Buitenlandse diploma's") == ("buitenlands-diploma",)
    assert taxonomy_codes("topics", "ruimtevaart") == ()


# --- rich text -----------------------------------------------------------------------------------


def test_tiptap_bodies_become_markdown_with_headings_as_chunk_sections() -> None:
    warnings: list[str] = []
    with FakeDirectus() as fake:
        docs = _by_id(_source(fake).documents(warn=warnings.append))
    article = docs["art-zij-instroom-in-het-beroep"]
    body = article.body

    sections = [c.section for c in chunks_of(article)]
    assert "Zij-instroom in het beroep > Voorwaarden" in sections
    assert "Zij-instroom in het beroep > Voorwaarden > Geschiktheidsonderzoek" in sections
    assert "Zij-instroom in het beroep > Kosten" in sections
    by_section = {c.section: c.text for c in chunks_of(article)}
    # Callout text is inlined under its heading, with its action as a plain link.
    assert "**Let op**" in by_section["Zij-instroom in het beroep > Voorwaarden"]
    assert "De subsidie zij-instroom vraagt de **school** aan, niet jij." in body
    assert "[Subsidie bij DUO](https://duo.nl/zakelijk/subsidie-zij-instroom)" in body
    # Images keep only their alt text, buttons and mentions become links.
    assert "Een zij-instromer voor de klas in een natuurkundelokaal" in body
    assert "file-uuid" not in body
    assert "[Plan een adviesgesprek](/adviesgesprek)" in body
    assert "Zie [Het geschiktheidsonderzoek](/kennisbank/artikelen/geschiktheidsonderzoek)." in body
    # Marks, lists, quotes, tables.
    assert body.startswith("Met **zij-instroom** ga je *direct* aan het werk")
    assert (
        "[regels van de overheid](https://www.rijksoverheid.nl/onderwerpen/werken-in-het-onderwijs)" in body
    )
    assert "- een positief geschiktheidsonderzoek\n  - uitgevoerd door een lerarenopleiding" in body
    assert "1. De school meldt je aan.\n2. Je doet het assessment." in body
    assert "> Binnen twee jaar ben je bevoegd." in body
    assert (
        "| Onderdeel | Wie betaalt |\n| --- | --- |\n| Geschiktheidsonderzoek | De school \\| het bestuur |"
        in body
    )
    # Unknown node, unknown block type, deleted block and media player: left out, reported once.
    assert "example.org/embed" not in body and "Klaar?" not in body and "Audio" not in body
    (note,) = [w for w in warnings if "left out of the text" in w]
    assert "callouts block j-deleted (not in editor_nodes: deleted?)" in note
    assert "quizzes block j-quiz-1 (unknown block type)" in note
    assert "unknown node 'iframeEmbed'" in note


def test_tiptap_edge_cases_never_crash() -> None:
    notes: list[str] = []
    doc = {
        "type": "doc",
        "content": [
            {"type": "heading", "attrs": {"level": 1}, "content": [_text("Titel", "bold")]},
            {"type": "heading", "attrs": {"level": 6}, "content": [_text("Diep")]},
            {"type": "details", "content": [_para(_text("Tekst in een onbekende wrapper."))]},
            _para(_text("# geen kop")),
            _para(
                _text("klik "),
                {
                    "type": "text",
                    "text": "hier ",
                    "marks": [{"type": "link", "attrs": {"href": "javascript:x()"}}],
                },
                _text("vet ", "bold"),
                _text("H"),
                _text("2", "subscript"),
                _text("O"),
            ),
            {"type": "relation-block", "attrs": {"id": "c-outer", "collection": "callouts"}},
            {"type": "relation-block", "attrs": {"id": "lijst", "collection": "content_lists"}},
            {"type": "relation-block", "attrs": {"id": "niet-uitgevouwen", "collection": "images"}},
            {"type": "relation-block"},
            "geen node",
            {"type": "codeBlock", "attrs": {"language": "text"}, "content": [_text("a | b")]},
        ],
    }
    nodes = [
        {
            "id": "c-outer",
            "collection": "callouts",
            "item": {
                "title": None,
                "description": {
                    "type": "doc",
                    "content": [
                        _para(_text("Buiten.")),
                        {"type": "relation-block", "attrs": {"id": "c-inner", "collection": "callouts"}},
                    ],
                },
                "editor_nodes": [
                    {
                        "id": "c-inner",
                        "collection": "callouts",
                        "item": {
                            "title": "Binnen",
                            "description": {"type": "doc", "content": [_para(_text("Genest."))]},
                        },
                    }
                ],
            },
        },
        {
            "id": "lijst",
            "collection": "content_lists",
            "item": {
                "items": [{"title": "DUO", "description": "Over je diploma.", "link": "https://duo.nl"}]
            },
        },
        {"id": "niet-uitgevouwen", "collection": "images", "item": "4f1c-uuid"},
    ]
    markdown = tiptap_to_markdown(doc, nodes, notes)
    assert markdown.startswith("## Titel\n\n#### Diep\n\nTekst in een onbekende wrapper.\n\n\\# geen kop")
    assert "klik hier **vet** H2O" in markdown
    assert "Buiten.\n\n**Binnen**\n\nGenest." in markdown
    assert "- [DUO](https://duo.nl): Over je diploma." in markdown
    assert "```text\na | b\n```" in markdown
    assert "images block niet-uitgevouwen (its data was not returned)" in notes
    assert any("relation block None" in n for n in notes) and "a malformed node" in notes
    with pytest.raises(ValueError, match="not a Tiptap document"):
        tiptap_to_markdown({"type": "paragraph"})


# --- podcast transcripts --------------------------------------------------------------------------


def test_podcast_transcripts_become_cues_with_timestamps_and_speakers() -> None:
    with FakeDirectus() as fake:
        docs = _by_id(_source(fake).documents())

    episode = docs["pod-van-ingenieur-naar-natuurkundeleraar"]
    assert episode.url == "/podcast/overstappen/van-ingenieur-naar-natuurkundeleraar"
    assert (episode.show, episode.season, episode.episode, episode.duration) == ("overstappen", 1, 1, 160.0)
    assert episode.hosts == ["Sanne"] and episode.guests == ["Jeroen"]
    assert [(c.start, c.end, c.speaker) for c in episode.cues] == [
        (0.0, 14.5, "Sanne"),
        (15.0, 48.2, "Jeroen"),
        (48.5, 95.0, "Sanne"),
        (95.4, 160.0, "Jeroen"),
    ]
    chunks = chunks_of(episode)
    assert chunks[0].start == 0.0 and chunks[-1].end == 160.0
    assert "Jeroen: Dank je." in chunks[0].text

    # Show and season given as bare ids are looked up; speaker lines carry the timestamps.
    lines = docs["pod-herintreden-als-leerkracht"]
    assert (lines.show, lines.season, lines.episode) == ("overstappen", 1, 2)
    assert [(c.start, c.end, c.speaker) for c in lines.cues][:3] == [
        (0.0, 21.0, "Sanne"),
        (21.0, 65.0, "Fatima"),
        (65.0, 100.0, "Sanne"),
    ]
    assert lines.cues[1].text.endswith("Ik heb eerst een paar dagen meegelopen.")
    assert lines.transcript == "transcript_string_with_speakers"


def test_every_documented_transcript_shape_parses() -> None:
    vtt = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.500\n<v Sanne>Hallo.</v>\n\n00:00:05.000 --> 00:00:09.000\nKees: Dag Sanne.\n"
    cues, used = parse_transcript(None, vtt)
    assert used == "transcript_string_with_speakers"
    assert [(c.start, c.end, c.speaker, c.text) for c in cues] == [
        (1.0, 4.5, "Sanne", "Hallo."),
        (5.0, 9.0, "Kees", "Dag Sanne."),
    ]
    assembly = {"utterances": [{"speaker": "A", "start": 1500, "end": 4000, "text": "Hoi"}]}
    (cue,), _ = parse_transcript(assembly, speaker_map=[{"speaker": "A", "name": "Sanne"}])
    assert (cue.start, cue.end, cue.speaker) == (1.5, 4.0, "Sanne")
    whisper = json.dumps(
        {"segments": [{"start": "00:01:02.5", "end": "00:01:05", "speaker": "SPEAKER_01", "text": "Ja."}]}
    )
    (cue,), _ = parse_transcript(whisper, speaker_map={"SPEAKER_01": "Jeroen"})
    assert (cue.start, cue.end, cue.speaker) == (62.5, 65.0, "Jeroen")
    cues, _ = parse_transcript("[00:00] Sanne: Welkom.\n[1:02:03] Jeroen: Tot slot.", duration=3730)
    assert [(c.start, c.end, c.speaker) for c in cues] == [(0.0, 3723.0, "Sanne"), (3723.0, 3730.0, "Jeroen")]
    # A broken raw transcript falls back to the string with speakers.
    cues, used = parse_transcript("{kapot", "Sanne (00:03): Hallo.")
    assert used == "transcript_string_with_speakers" and cues[0].start == 3.0
    with pytest.raises(TranscriptError, match="cue at 00:00:01.000 names no speaker"):
        parse_transcript("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nzonder spreker\n")
    with pytest.raises(TranscriptError, match="unknown transcript object"):
        parse_transcript({"words": []})


# --- end to end ---------------------------------------------------------------------------------


def test_documents_from_directus_are_ingested_and_retrievable(tmp_path: Path) -> None:
    warnings: list[str] = []
    with FakeDirectus() as fake:
        # Exactly the call the CLI makes.
        documents = DirectusSource(fake.url, TOKEN).documents(warn=lambda m: warnings.append(m))
    settings = make_settings(tmp_path)
    store = ChromaStore(chroma_client(settings), HashEmbedder())
    result = ingest(documents, store)
    assert result.documents == 10 and not result.skipped
    assert result.report is not None and result.report.chunks == result.chunks

    retriever = Retriever(store, settings)
    hits = retriever.search("Wie betaalt het geschiktheidsonderzoek?", k=3)
    assert hits[0].chunk.doc_id == "faq-wie-betaalt-het-geschiktheidsonderzoek"
    assert hits[0].chunk.url == "/kennisbank/veelgestelde-vragen/wie-betaalt-het-geschiktheidsonderzoek"
    mbo = retriever.search(
        "pedagogisch-didactisch getuigschrift docent", filters=Filters(sectors=["mbo"]), k=3
    )
    assert mbo[0].chunk.doc_id == "art-pdg-traject" and mbo[0].chunk.sectors == ["mbo"]
    podcast = retriever.search("ingenieur natuurkunde geven aan jongeren", k=5)
    episode = next(h.chunk for h in podcast if h.chunk.collection == "podcast_episode")
    assert episode.doc_id == "pod-van-ingenieur-naar-natuurkundeleraar" and episode.start == 0.0
    assert ingest(documents, store).skipped, "a second run over the same content is a no-op"
