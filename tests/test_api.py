"""The HTTP contract: answers, streaming, feedback, health, and clear 4xx errors for bad input (never a 500)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.api.streaming import pieces
from assistant.service import Assistant

QUESTION = "Hoe lang duurt de deeltijdpabo?"


@pytest.fixture
def client(fixture_assistant: Assistant, tmp_path: Path) -> TestClient:
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "appdata"})
    return TestClient(create_app(settings, assistant=fixture_assistant), raise_server_exceptions=False)


def test_chat_answers_with_citations(client: TestClient) -> None:
    response = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "answered" and body["language"] == "nl"
    assert body["citations"] and body["citations"][0]["url"].startswith("/kennisbank/")
    assert "[1]" in body["answer"]
    assert {"kind", "label", "url"} <= set(body["referrals"][0])


def test_follow_up_uses_the_conversation(client: TestClient) -> None:
    first = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()
    second = client.post(
        "/v1/chat", json={"message": "en de voltijd?", "conversation_id": first["conversation_id"]}
    )
    assert second.status_code == 200
    assert second.json()["conversation_id"] == first["conversation_id"]
    assert any("pabo" in c["doc_id"] for c in second.json()["citations"])


def test_podcast_citations_carry_their_timestamps(client: TestClient) -> None:
    body = client.post(
        "/v1/chat", json={"message": "Wat heb je nodig om instructeur in het mbo te worden?"}
    ).json()
    podcast = [c for c in body["citations"] if c["collection"] == "podcast_episode"]
    assert podcast, body
    assert podcast[0]["start"] is not None and podcast[0]["url"].endswith(f"#t={int(podcast[0]['start'])}")


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"message": ""}, 422, "invalid_request"),
        ({"message": "   \n "}, 422, "invalid_request"),
        ({"message": "x" * 2001}, 422, "invalid_request"),
        ({"message": 42}, 422, "invalid_request"),
        ({"message": ["lijst"]}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        ({"message": "hoi", "extra": 1}, 422, "invalid_request"),
        ({"message": "hoi", "conversation_id": "bestaat-niet"}, 404, "unknown_conversation"),
        ({"message": "hoi", "profile": "onbekend"}, 404, "unknown_profile"),
        ({"message": "hoi", "filters": {"sectors": "po"}}, 422, "invalid_request"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    client: TestClient, payload: dict[str, object], status: int, error: str
) -> None:
    response = client.post("/v1/chat", json=payload)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["detail"]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/v1/chat", content=b'{"message": "hoi"', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


def test_empty_message_error_says_what_is_wrong(client: TestClient) -> None:
    detail = client.post("/v1/chat", json={"message": ""}).json()["detail"]
    assert detail[0]["field"] == "message" and "empty" in detail[0]["msg"]


def test_no_input_produces_a_500(client: TestClient) -> None:
    odd = [
        "\x00\x01\x02",
        "🙂" * 500,
        "<script>alert(1)</script>",
        "'; DROP TABLE messages; --",
        "\u202e" * 50 + "a",
        "a\u0301" * 900,
    ]
    for message in odd:
        response = client.post("/v1/chat", json={"message": message})
        assert response.status_code < 500, (message, response.text)
    for raw in (b"", b"null", b"[]", b"\xff\xfe", b'{"message": null}'):
        response = client.post("/v1/chat", content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (raw, response.text)


def test_a_failing_pipeline_gives_a_graceful_answer_not_a_500(
    fixture_assistant: Assistant, tmp_path: Path
) -> None:
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "broken"})

    def explode(turn: object, ctx: object) -> None:
        raise RuntimeError("boom")

    broken = Assistant(settings, embedder=fixture_assistant.embedder, stages=[explode])
    client = TestClient(create_app(settings, assistant=broken), raise_server_exceptions=False)
    response = client.post("/v1/chat", json={"message": "Hoe word ik leraar?"})
    assert response.status_code == 200
    assert response.json()["status"] == "no_answer" and response.json()["reason"] == "error"


def _events(text: str) -> list[tuple[str, object]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
        )
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_streaming_sends_meta_deltas_citations_referrals_and_done(client: TestClient) -> None:
    with client.stream(
        "POST", "/v1/chat/stream", json={"message": "Hoe lang duurt de deeltijdpabo?"}
    ) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    events = _events(text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "done"
    assert kinds.count("delta") >= 2 and "citations" in kinds and "referrals" in kinds
    answer = "".join(str(data["text"]) for kind, data in events if kind == "delta")  # type: ignore[index]
    plain = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()["answer"]
    assert answer == plain
    assert events[-1][1] == {"status": "answered", "reason": None}


def test_streaming_rejects_bad_input_before_streaming(client: TestClient) -> None:
    assert client.post("/v1/chat/stream", json={"message": ""}).status_code == 422
    assert client.post("/v1/chat/stream", json={"message": "hoi", "profile": "nee"}).status_code == 404


def test_pieces_keep_the_text_intact() -> None:
    text = "Een zin met [1] en\n\nnog een alinea die wat langer is dan vierentwintig tekens."
    assert "".join(pieces(text)) == text
    assert len(pieces(text)) > 2


def test_feedback_is_stored_and_survives_a_restart(
    client: TestClient, fixture_assistant: Assistant, tmp_path: Path
) -> None:
    conversation = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()[
        "conversation_id"
    ]
    ok = client.post(
        "/v1/feedback",
        json={
            "conversation_id": conversation,
            "message_index": 0,
            "rating": "down",
            "comment": "Bel me: 06-12345678",
        },
    )
    assert ok.status_code == 201
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "appdata"})
    restarted = create_app(settings, assistant=fixture_assistant)
    stored = restarted.state.feedback.all()
    assert stored[-1]["rating"] == "down" and stored[-1]["comment"] == "Bel me: [TELEFOON]"


@pytest.mark.parametrize(
    "payload",
    [
        {"conversation_id": "x", "message_index": 0, "rating": "meh"},
        {"conversation_id": "x", "message_index": -1, "rating": "up"},
        {"conversation_id": "x", "message_index": 0, "rating": "up", "comment": "a" * 1001},
        {"message_index": 0, "rating": "up"},
    ],
)
def test_bad_feedback_is_a_422(client: TestClient, payload: dict[str, object]) -> None:
    assert client.post("/v1/feedback", json=payload).status_code == 422


def test_feedback_for_an_unknown_conversation_is_a_404(client: TestClient) -> None:
    response = client.post(
        "/v1/feedback", json={"conversation_id": "nope", "message_index": 0, "rating": "up"}
    )
    assert response.status_code == 404


def test_health_readiness_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["chunks"] > 0
    assert client.get("/docs").status_code == 200
    assert "/v1/chat" in client.get("/openapi.json").json()["paths"]


def test_not_ready_without_an_index(fixture_assistant: Assistant, tmp_path: Path) -> None:
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "empty"})
    empty = Assistant(settings, embedder=fixture_assistant.embedder)
    client = TestClient(create_app(settings, assistant=empty), raise_server_exceptions=False)
    assert client.get("/readyz").status_code == 503
    response = client.post("/v1/chat", json={"message": "Hoe word ik leraar?"})
    assert response.status_code == 503 and response.json()["error"] == "index_not_ready"


def test_cors_allows_listed_origins_and_refuses_others(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/v1/chat", headers={"Origin": "http://localhost:8000", **preflight})
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:8000"
    refused = client.options("/v1/chat", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers
    post = client.post(
        "/v1/chat", json={"message": "hoi", "profile": "default"}, headers={"Origin": "https://evil.example"}
    )
    assert post.status_code == 403 and post.json()["error"] == "origin_not_allowed"


def test_partner_profile_filters_sources(client: TestClient) -> None:
    body = client.post(
        "/v1/chat", json={"message": "Hoe word ik instructeur?", "profile": "regio-mbo-demo"}
    ).json()
    assert body["citations"], body
    assert all(c["doc_id"] == "pod-test-aflevering" for c in body["citations"])


def test_document_pages_render(client: TestClient) -> None:
    page = client.get("/kennisbank/artikelen/pabo-voltijd")
    assert page.status_code == 200 and "<h1>" in page.text
    episode = client.get("/podcast/testshow/test-aflevering")
    assert 'id="t=0"' in episode.text and "Voorbeeldinhoud" in episode.text
    assert client.get("/kennisbank/artikelen/bestaat-niet").status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/stream", {"message": QUESTION}),
        ("/v1/chat", {"message": QUESTION}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "stream": True}),
    ],
)
def test_a_visitor_who_leaves_stops_the_llm_stream(
    fixture_assistant: Assistant, tmp_path: Path, path: str, body: dict[str, object]
) -> None:
    """Leaving mid-answer (closing the stream, or a client giving up on a plain request) closes the LLM
    stream too, on every chat endpoint; the question is still stored."""
    import copy
    import time

    import httpx
    from sqlalchemy import select

    from assistant.llm import OpenAICompatibleChatModel
    from assistant.pipeline import Context
    from assistant.storage import Database, SqlConversations, messages
    from tests.conftest import ServerThread
    from tests.fakes import ScriptedOpenAIServer

    def wait_for(condition: object, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    reply = "Een deeltijdpabo duurt meestal vier jaar [1]. " * 20  # ~130 pieces, 50 ms apart: ~6.5 s
    with ScriptedOpenAIServer([{"reply": reply, "piece_delay": 0.05}]) as llm:
        db = Database(f"sqlite:///{tmp_path / 'leave.db'}")
        assistant = copy.copy(fixture_assistant)
        assistant.conversations = SqlConversations(db)
        assistant.observers = []
        ctx = fixture_assistant.context
        model = OpenAICompatibleChatModel(llm.url, "m", timeout=20)
        assistant.context = Context(ctx.settings, ctx.prompts, ctx.retriever, ctx.classifier, llm=model)
        settings = fixture_assistant.settings.model_copy(
            update={"data_dir": tmp_path / "appdata", "database_url": db.url}
        )
        with ServerThread(create_app(settings, assistant=assistant)) as server:
            with httpx.Client(base_url=server.url, timeout=20, trust_env=False) as client:
                if path == "/v1/chat/stream":
                    with client.stream("POST", path, json=body) as response:
                        assert response.status_code == 200
                        wait_for(lambda: llm.chat_requests())
                        time.sleep(0.3)  # the LLM is mid-reply; now the visitor closes the tab
                else:
                    # The answer is only sent when complete: the client gives up waiting for it.
                    with pytest.raises(httpx.ReadTimeout):
                        client.post(path, json=body, timeout=httpx.Timeout(20, read=1.0))
                    assert llm.chat_requests(), "the LLM was asked before the client left"
            wait_for(lambda: llm.aborted == 1)
            with db.engine.connect() as conn:
                wait_for(
                    lambda: conn.execute(select(messages.c.role)).all() != [],
                )
                rows = conn.execute(select(messages.c.role, messages.c.text, messages.c.reason)).all()
    assert [(r.role, r.reason) for r in rows] == [("user", None), ("assistant", "cancelled")]
    assert rows[0].text == QUESTION
    assert len(llm.chat_requests()) == 1, "no retry after the visitor left"
