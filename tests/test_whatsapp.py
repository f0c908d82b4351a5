"""The WhatsApp bridge: webhook security, the answer pipeline, the durable outbox and its worker.

A loopback FakeGraph plays Meta's Graph API. The worker is driven with `drain()` (no sleeping); one test runs
the real background worker through the app's lifespan after a simulated crash.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from assistant.api.app import create_app
from assistant.api.whatsapp import valid_signature
from assistant.channels.whatsapp import (
    MAX_TEXT,
    UNSUPPORTED_REPLY,
    WhatsAppWorker,
    backoff_delay,
    button_message,
    parse_retry_after,
    parse_webhook,
    sender_hash,
    sources_block,
    split_message,
    to_whatsapp,
    units,
    worker_for,
)
from assistant.pipeline import Citation
from assistant.whatsapp_store import TABLES, now
from tests.conftest import free_port
from tests.graph_fake import (
    PHONE_NUMBER_ID,
    FakeGraph,
    button_reply_payload,
    encode,
    image_payload,
    message_payload,
    sign,
    status_payload,
    text_payload,
)

SECRET = "test-app-secret"
ACCESS_TOKEN = "test-access-token"
VERIFY_TOKEN = "verify-me-please"
SALT = "test-salt"
SITE = "https://www.onderwijsloket.com"
QUESTION = "Hoe lang duurt de deeltijdpabo?"


class Bridge:
    """One app over its own SQLite database, with a test client (no lifespan) and its worker."""

    def __init__(self, assistant: Any, settings: Any) -> None:
        self.settings = settings
        self.app = create_app(settings, assistant=assistant)
        self.client = TestClient(self.app)
        self.worker: WhatsAppWorker = worker_for(self.app)
        self.store = self.worker.store

    def post(
        self,
        payload: dict[str, Any] | None = None,
        body: bytes | None = None,
        signature: str | bytes | None = "",
    ):  # type: ignore[no-untyped-def]
        raw = body if body is not None else encode(payload or {})
        headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
        if signature == "":
            signature = sign(raw, SECRET)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.client.post("/whatsapp/webhook", content=raw, headers=headers)

    def close(self) -> None:
        self.worker.close()
        self.app.state.db.engine.dispose()


def bridge_settings(assistant: Any, data_dir: Path, graph: FakeGraph, **extra: Any) -> Any:
    values = {
        "data_dir": data_dir,
        "site_url": SITE,
        "hash_salt": SALT,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_app_secret": SECRET,
        "whatsapp_access_token": ACCESS_TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_graph_url": graph.url,
        "whatsapp_graph_version": "v21.0",
        "whatsapp_max_attempts": 6,
    }
    values.update(extra)
    return assistant.settings.model_copy(update=values)


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def bridge(fixture_assistant: Any, tmp_path: Path, graph: FakeGraph) -> Iterator[Bridge]:
    b = Bridge(fixture_assistant, bridge_settings(fixture_assistant, tmp_path / "data", graph))
    yield b
    b.close()


def all_rows(b: Bridge) -> list[dict[str, Any]]:
    with b.store.engine.connect() as conn:
        return [dict(r._mapping) for table in TABLES for r in conn.execute(select(table))]


def drops() -> float:
    return REGISTRY.get_sample_value("assistant_whatsapp_window_drops_total") or 0.0


# --- verification handshake ------------------------------------------------------------------------------
def test_verification_handshake(bridge: Bridge) -> None:
    ok = bridge.client.get(
        "/whatsapp/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ):
        assert bridge.client.get("/whatsapp/webhook", params=params).status_code == 403


# --- answering -----------------------------------------------------------------------------------------
def test_text_question_answered_with_sources_and_no_number_kept(bridge: Bridge, graph: FakeGraph) -> None:
    wa_id = "31612345001"
    response = bridge.post(text_payload(wa_id, "wamid.Q1", QUESTION))
    assert response.status_code == 200
    assert response.json()["received"] == 1
    [stored] = bridge.store.inbound_rows()
    assert stored["status"] == "received" and stored["text"] == QUESTION
    assert graph.requests == []  # nothing is sent from the request itself

    bridge.worker.drain()

    first, last = graph.delivered()
    assert first["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert first["auth"] == f"Bearer {ACCESS_TOKEN}"
    body = first["body"]
    assert body["messaging_product"] == "whatsapp" and body["recipient_type"] == "individual"
    assert body["to"] == wa_id and body["type"] == "text" and body["text"]["preview_url"] is False
    text = body["text"]["body"]
    assert "[1]" in text and "\n\nBronnen:\n1. " in text
    assert f"{SITE}/kennisbank/veelgestelde-vragen/hoe-lang-duurt-de-deeltijdpabo" in text
    assert last["body"]["text"]["body"].startswith("Plan een gesprek met een adviseur: https://")

    rows = bridge.store.outbox_rows("wamid.Q1")
    assert [r["status"] for r in rows] == ["sent", "sent"]
    assert [r["graph_message_id"] for r in rows] == [first["wamid"], last["wamid"]]
    # The number was needed to send; now only its salted hash is left, anywhere.
    assert wa_id not in repr(all_rows(bridge))
    assert bridge.store.inbound_rows()[0]["text"] is None
    assert bridge.store.inbound_rows()[0]["sender_hash"] == sender_hash(wa_id, SALT)
    assert bridge.app.state.assistant.conversations.exists(sender_hash(wa_id, SALT))


def test_relative_links_use_the_webhook_address_without_site_url(
    fixture_assistant: Any, tmp_path: Path, graph: FakeGraph
) -> None:
    b = Bridge(fixture_assistant, bridge_settings(fixture_assistant, tmp_path / "data", graph, site_url=""))
    try:
        b.post(text_payload("31612345002", "wamid.REL", QUESTION))
        b.worker.drain()
        assert "http://testserver/kennisbank/veelgestelde-vragen/" in graph.texts()[0]
    finally:
        b.close()


def test_button_reply_goes_through_the_pipeline(bridge: Bridge, graph: FakeGraph) -> None:
    bridge.post(button_reply_payload("31612345003", "wamid.BTN", "Plan een gesprek"))
    bridge.worker.drain()
    texts = graph.texts()
    assert any("https://savvycal.com/" in t for t in texts)


def test_image_gets_polite_text_only_reply(bridge: Bridge, graph: FakeGraph) -> None:
    assert bridge.post(image_payload("31612345004", "wamid.IMG")).status_code == 200
    bridge.worker.drain()
    assert graph.texts() == [UNSUPPORTED_REPLY]


def test_reaction_is_not_answered(bridge: Bridge, graph: FakeGraph) -> None:
    payload = message_payload(
        "31612345005", "wamid.REACT", "reaction", reaction={"message_id": "wamid.X", "emoji": "👍"}
    )
    assert bridge.post(payload).status_code == 200
    bridge.worker.drain()
    assert graph.requests == []
    assert bridge.store.inbound_rows()[0]["status"] == "processed"


def test_non_ascii_body_is_verified_over_raw_bytes(bridge: Bridge, graph: FakeGraph) -> None:
    question = "Ik ben café-eigenaar 😀 en wil leraar worden. Wat verdient een leraar?"
    payload = text_payload("31612345006", "wamid.UTF8", question)
    raw = encode(payload)  # UTF-8 bytes, not \\u escapes
    assert "é".encode() in raw
    # A signature over another serialisation of the same JSON does not verify these bytes.
    assert bridge.post(body=raw, signature=sign(encode(payload, ascii_only=True), SECRET)).status_code == 401
    assert bridge.post(body=raw).status_code == 200
    assert bridge.store.inbound_rows()[0]["text"] == question
    bridge.worker.drain()
    assert "Bronnen:" in graph.texts()[0]


# --- security --------------------------------------------------------------------------------------------
def test_bad_signature_is_refused_and_nothing_happens(bridge: Bridge, graph: FakeGraph) -> None:
    raw = encode(text_payload("31612345007", "wamid.BAD", QUESTION))
    for signature in (
        None,
        "",
        "sha256=" + "0" * 64,
        sign(raw, "not-the-secret"),
        sign(raw + b" ", SECRET),
        "sha1=" + sign(raw, SECRET)[7:],
        "sha256=\u00e9\u00e9".encode("latin-1"),  # not ASCII: still a 401, never a 500
    ):
        response = bridge.post(body=raw, signature=signature or None)
        assert response.status_code == 401, signature
    bridge.worker.drain()
    assert all_rows(bridge) == []
    assert graph.requests == []


def test_malformed_json_with_valid_signature_is_400(bridge: Bridge) -> None:
    assert bridge.post(body=b'{"object": "whatsapp_business_account", ').status_code == 400
    assert bridge.post(body=b"[1, 2, 3]").status_code == 400
    assert bridge.post(body=b"\xff\xfe\x00garbage").status_code == 400
    assert all_rows(bridge) == []


def test_unsigned_config_refuses_everything(fixture_assistant: Any, tmp_path: Path, graph: FakeGraph) -> None:
    settings = bridge_settings(fixture_assistant, tmp_path / "data", graph, whatsapp_app_secret="")
    b = Bridge(fixture_assistant, settings)
    try:
        raw = encode(image_payload("31612345008", "wamid.NOSECRET"))
        assert b.post(body=raw, signature=sign(raw, "")).status_code == 401
        assert all_rows(b) == []
    finally:
        b.close()


# --- dedupe and statuses ----------------------------------------------------------------------------------
def test_replayed_message_is_answered_once(bridge: Bridge, graph: FakeGraph) -> None:
    payload = text_payload("31612345009", "wamid.TWICE", "Wat verdient een leraar?")
    assert bridge.post(payload).json()["received"] == 1
    assert bridge.post(payload).json()["duplicates"] == 1
    bridge.worker.drain()
    answered = len(graph.delivered())
    assert answered == 2  # the answer with sources, and the referral
    assert bridge.post(payload).json()["duplicates"] == 1  # Meta retrying after we answered
    bridge.worker.drain()
    assert len(graph.delivered()) == answered
    assert len(bridge.store.inbound_rows()) == 1


def test_status_updates_are_recorded_against_the_outbox(bridge: Bridge, graph: FakeGraph) -> None:
    wa_id = "31612345010"
    bridge.post(text_payload(wa_id, "wamid.STAT", QUESTION))
    bridge.worker.drain()
    first, second = (r["wamid"] for r in graph.delivered())
    sends = len(graph.requests)

    assert bridge.post(status_payload(first, "delivered", wa_id)).json()["statuses"] == 1
    assert bridge.post(status_payload(first, "read", wa_id)).status_code == 200
    assert bridge.post(status_payload(first, "delivered", wa_id)).status_code == 200  # late duplicate
    failed = (131050, "Unable to deliver the message")
    assert bridge.post(status_payload(second, "failed", wa_id, error=failed)).status_code == 200
    assert bridge.post(status_payload("wamid.UNKNOWN", "sent", wa_id)).status_code == 200

    one, two = bridge.store.outbox_rows("wamid.STAT")
    assert one["delivery_status"] == "read" and one["delivery_error_code"] is None
    assert two["delivery_status"] == "failed"
    assert (two["delivery_error_code"], two["delivery_error_title"]) == failed
    recorded = {(s["graph_message_id"], s["status"]) for s in bridge.store.status_rows()}
    assert recorded == {
        (first, "delivered"),
        (first, "read"),
        (second, "failed"),
        ("wamid.UNKNOWN", "sent"),
    }
    assert len(graph.requests) == sends  # statuses are never answered
    assert wa_id not in repr(all_rows(bridge))  # recipient_id of statuses is not kept


def test_status_before_the_send_is_recorded_applies_later(bridge: Bridge, graph: FakeGraph) -> None:
    bridge.post(status_payload("wamid.FAKE0001", "delivered", "31612345011"))
    bridge.post(image_payload("31612345011", "wamid.RACE"))
    bridge.worker.drain()
    [row] = bridge.store.outbox_rows("wamid.RACE")
    assert row["graph_message_id"] == "wamid.FAKE0001" and row["delivery_status"] == "delivered"


# --- long answers -----------------------------------------------------------------------------------------
def test_splitter_keeps_parts_under_the_limit() -> None:
    paragraphs = [f"Alinea {i}. " + "Een zin over de pabo en het lerarentekort. " * 20 for i in range(30)]
    parts = split_message("\n\n".join(paragraphs))
    assert len(parts) > 1 and all(units(p) < MAX_TEXT for p in parts)
    assert "\n\n".join(parts) == "\n\n".join(p.rstrip() for p in paragraphs)  # cut between paragraphs only

    huge = "Dit is een zin met wat woorden erin. " * 400  # one paragraph of ~15,000 characters
    parts = split_message(huge)
    assert len(parts) >= 4 and all(units(p) < MAX_TEXT for p in parts)
    assert all(p.endswith(".") for p in parts)  # cut at sentence ends
    assert " ".join(parts).split() == huge.split()

    assert all(units(p) < MAX_TEXT for p in split_message("x" * 10000))
    emoji = split_message("😀 " * 3000)  # 2 UTF-16 units each
    assert all(units(p) < MAX_TEXT for p in emoji) and sum(p.count("😀") for p in emoji) == 3000
    assert split_message("  \n\n ") == []
    assert split_message("kort", limit=10) == ["kort"]


class LongAnswers:
    """The fixture assistant, with every answer blown up to many paragraphs."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def ask(self, message: str, **kwargs: Any) -> Any:
        turn = self.inner.ask(message, **kwargs)
        turn.answer = "\n\n".join(
            f"**Alinea {i}.** " + "Een voltijd pabo duurt vier jaar, lees meer in de bron. " * 18 + "[1]"
            for i in range(24)
        )
        return turn


def test_long_answer_is_sent_in_parts(fixture_assistant: Any, tmp_path: Path, graph: FakeGraph) -> None:
    settings = bridge_settings(fixture_assistant, tmp_path / "data", graph)
    b = Bridge(LongAnswers(fixture_assistant), settings)
    try:
        b.post(text_payload("31612345012", "wamid.LONG", QUESTION))
        b.worker.drain()
        texts = graph.texts()
        assert len(texts) >= 5
        assert all(units(t) < MAX_TEXT for t in texts)
        joined = "\n\n".join(texts)
        assert all(f"*Alinea {i}.*" in joined for i in range(24)) and "**" not in joined
        assert "Bronnen:" in texts[-2] and texts[-1].startswith("Plan een gesprek")
        keys = [r["idempotency_key"] for r in b.store.outbox_rows("wamid.LONG")]
        assert keys == [f"wamid.LONG:{i}" for i in range(len(texts))]
    finally:
        b.close()


# --- failures, retries and restarts -------------------------------------------------------------------------
def test_graph_failing_twice_then_succeeding_delivers_once(bridge: Bridge, graph: FakeGraph) -> None:
    graph.fail(500, (429, {"Retry-After": "0"}))
    bridge.post(image_payload("31612345013", "wamid.RETRY"))

    bridge.worker.drain()  # 500: retry scheduled with backoff, not due yet
    [row] = bridge.store.outbox_rows("wamid.RETRY")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "HTTP 500" in row["last_error"]
    assert len(graph.requests) == 1

    bridge.worker.clock = lambda: now() + timedelta(seconds=30)  # time passes
    bridge.worker.drain()  # 429 with Retry-After: 0, then 200
    assert [r["status"] for r in graph.requests] == [500, 429, 200]
    assert graph.texts() == [UNSUPPORTED_REPLY]
    [row] = bridge.store.outbox_rows("wamid.RETRY")
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert row["graph_message_id"] == graph.delivered()[0]["wamid"] and row["recipient"] is None
    bridge.worker.drain()
    assert len(graph.requests) == 3


def test_gives_up_after_max_attempts_and_on_client_errors(
    fixture_assistant: Any, tmp_path: Path, graph: FakeGraph
) -> None:
    settings = bridge_settings(fixture_assistant, tmp_path / "data", graph, whatsapp_max_attempts=3)
    b = Bridge(fixture_assistant, settings)
    b.worker.backoff_base = 0.0
    try:
        graph.fail(503, 502, 500, (400, {}, 100))
        b.post(image_payload("31612345014", "wamid.GIVEUP"))
        b.worker.drain()
        [row] = b.store.outbox_rows("wamid.GIVEUP")
        assert (row["status"], row["attempts"], row["recipient"]) == ("failed", 3, None)
        assert "gave up after 3 attempts" in row["last_error"]

        b.post(image_payload("31612345015", "wamid.INVALID"))
        b.worker.drain()
        [row] = b.store.outbox_rows("wamid.INVALID")
        assert (row["status"], row["attempts"]) == ("failed", 1)  # a 400 is not retried
        assert "HTTP 400 code 100" in row["last_error"]
        assert graph.delivered() == []
    finally:
        b.close()


def test_connection_errors_are_retried(bridge: Bridge, graph: FakeGraph) -> None:
    real_url = bridge.worker.graph_url
    bridge.worker.graph_url = f"http://127.0.0.1:{free_port()}/v21.0/{PHONE_NUMBER_ID}/messages"
    bridge.post(image_payload("31612345016", "wamid.CONN"))
    bridge.worker.drain()
    [row] = bridge.store.outbox_rows("wamid.CONN")
    assert row["status"] == "pending" and "connection error" in row["last_error"]
    bridge.worker.graph_url = real_url
    bridge.worker.clock = lambda: now() + timedelta(minutes=5)
    bridge.worker.drain()
    assert graph.texts() == [UNSUPPORTED_REPLY]


def test_later_parts_wait_for_an_earlier_one(bridge: Bridge, graph: FakeGraph) -> None:
    graph.fail(500)
    bridge.post(text_payload("31612345017", "wamid.ORDER", QUESTION))
    bridge.post(image_payload("31612345018", "wamid.OTHER"))  # someone else is not held up
    bridge.worker.drain()
    assert graph.texts() == [UNSUPPORTED_REPLY]
    assert [r["status"] for r in bridge.store.outbox_rows("wamid.ORDER")] == ["pending", "pending"]
    bridge.worker.clock = lambda: now() + timedelta(minutes=1)
    bridge.worker.drain()
    texts = graph.texts()[1:]
    assert "Bronnen:" in texts[0] and texts[1].startswith("Plan een gesprek")


def test_interrupted_send_is_failed_not_repeated(bridge: Bridge, graph: FakeGraph) -> None:
    bridge.post(image_payload("31612345022", "wamid.CLAIMED"))
    bridge.worker.process_inbound()
    [row] = bridge.store.sendable(now())
    assert bridge.store.claim_outbox(row.id)  # a worker claimed it, then its process died mid-send
    assert not bridge.store.claim_outbox(row.id)  # nobody else can claim it
    bridge.worker.lease = 0.0  # the claim has expired
    bridge.worker.drain()
    [stored] = bridge.store.outbox_rows("wamid.CLAIMED")
    assert stored["status"] == "failed" and "interrupted" in stored["last_error"]
    assert stored["recipient"] is None and graph.requests == []


def test_two_workers_over_one_database_send_each_part_once(
    fixture_assistant: Any, tmp_path: Path, graph: FakeGraph
) -> None:
    settings = bridge_settings(fixture_assistant, tmp_path / "data", graph)
    one, two = Bridge(fixture_assistant, settings), Bridge(fixture_assistant, settings)
    try:
        for i in range(8):
            (one if i % 2 else two).post(image_payload(f"3161234510{i}", f"wamid.PAR{i}"))
        threads = [threading.Thread(target=b.worker.drain) for b in (one, two, one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(r["body"]["to"] for r in graph.requests) == [f"3161234510{i}" for i in range(8)]
        assert {r["status"] for r in one.store.outbox_rows()} == {"sent"}
    finally:
        one.close()
        two.close()


def test_reply_outside_the_24_hour_window_is_dropped(bridge: Bridge, graph: FakeGraph) -> None:
    before = drops()
    old = int(time.time()) - 25 * 3600
    bridge.post(message_payload("31612345019", "wamid.OLD", "sticker", old, sticker={"id": "1"}))
    bridge.worker.drain()
    assert graph.requests == []
    [row] = bridge.store.outbox_rows("wamid.OLD")
    assert row["status"] == "dropped_window" and row["recipient"] is None
    assert drops() == before + 1


def test_restart_between_receipt_and_reply_loses_nothing(
    fixture_assistant: Any, tmp_path: Path, graph: FakeGraph
) -> None:
    settings = bridge_settings(fixture_assistant, tmp_path / "data", graph)
    first = Bridge(fixture_assistant, settings)
    first.post(image_payload("31612345020", "wamid.QUEUED"))
    first.worker.process_inbound()  # answered into the outbox, never sent
    first.post(text_payload("31612345021", "wamid.WAITING", QUESTION))  # stored, never answered
    assert [r["status"] for r in first.store.inbound_rows()] == ["processed", "received"]
    first.close()  # the process stops here
    assert graph.requests == []

    second = create_app(settings, assistant=fixture_assistant)  # a new process over the same database
    with TestClient(second):  # the lifespan starts the worker, which resumes
        delivered = graph.wait_for(3)
    assert len(graph.delivered()) == 3 == len(delivered)
    texts = graph.texts()
    assert texts.count(UNSUPPORTED_REPLY) == 1
    assert sum("Bronnen:" in t for t in texts) == 1
    worker = worker_for(second)
    worker.drain()  # nothing is left to send twice
    assert len(graph.requests) == 3
    second.state.db.engine.dispose()


# --- units --------------------------------------------------------------------------------------------------
def test_markdown_becomes_whatsapp_formatting() -> None:
    markdown = (
        "## Kop\n\n**Let op:** lees [de pagina](/kennisbank/x) of [https://duo.nl](https://duo.nl). [1]\n"
        "> Een *citaat* uit de bron [2]\n\n* eerste punt\n* tweede punt"
    )
    assert to_whatsapp(markdown, SITE) == (
        "*Kop*\n\n*Let op:* lees de pagina (https://www.onderwijsloket.com/kennisbank/x) of https://duo.nl. [1]\n"
        "Een _citaat_ uit de bron [2]\n\n- eerste punt\n- tweede punt"
    )


def test_sources_list_with_podcast_time() -> None:
    def cite(n: int, title: str, url: str, start: float | None = None) -> Citation:
        return Citation(
            n=n, doc_id="d", collection="c", title=title, url=url, section="s", start=start, snippet=""
        )

    block = sources_block(
        [cite(2, "Aflevering", "/podcast/x#t=754", 754.0), cite(1, "Artikel", "https://a.nl/b")], "nl", SITE
    )
    assert block == (
        f"Bronnen:\n1. Artikel – https://a.nl/b\n2. Aflevering, vanaf 12:34 – {SITE}/podcast/x#t=754"
    )
    assert sources_block([], "nl") == ""


def test_reply_buttons_respect_the_limits() -> None:
    message = button_message(
        "Kies maar",
        [("a", "Plan een gesprek met een adviseur"), ("b", "Ja"), ("c", "Ja"), ("d", "Nee"), ("e", "Later")],
    )
    buttons = message["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Plan een gesprek me…", "Ja", "Nee"]
    assert all(len(b["reply"]["title"]) <= 20 and b["type"] == "reply" for b in buttons)
    assert message["type"] == "interactive" and message["interactive"]["type"] == "button"
    with pytest.raises(ValueError):
        button_message("x", [])


def test_retry_after_and_backoff() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    assert backoff_delay(3, 12.0, base=2.0, cap=900.0) == 12.0
    assert 0.9 * 8 <= backoff_delay(3, None, base=2.0, cap=900.0) <= 1.1 * 8
    assert backoff_delay(30, None, base=2.0, cap=900.0) <= 1.1 * 900


def test_signature_and_parsing_units() -> None:
    body = json.dumps({"a": "é"}, ensure_ascii=False).encode()
    assert valid_signature("s", body, sign(body, "s"))
    assert valid_signature("s", body, sign(body, "s").upper().replace("SHA256=", "sha256="))
    assert not valid_signature("", body, sign(body, ""))
    assert not valid_signature("s", body, None)

    other = text_payload("31600000000", "wamid.OTHERNUMBER", "hallo")
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert parse_webhook(other, SALT, PHONE_NUMBER_ID).messages == []
    listed = message_payload(
        "31600000001",
        "wamid.LIST",
        "interactive",
        interactive={"type": "list_reply", "list_reply": {"id": "1", "title": "Pabo", "description": "x"}},
    )
    [message] = parse_webhook(listed, SALT).messages
    assert (message.kind, message.text, message.recipient) == ("text", "Pabo", "31600000001")
    location = message_payload("31600000002", "wamid.LOC", "location", location={"latitude": 52.1})
    assert parse_webhook(location, SALT).messages[0].kind == "unsupported"
    assert parse_webhook({"object": "page", "entry": []}, SALT).messages == []
    with pytest.raises(ValueError):
        parse_webhook([], SALT)
