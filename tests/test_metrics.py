"""GET /metrics: Prometheus text with request, stage, outcome, score, LLM and outbox metrics that move."""

from __future__ import annotations

import copy
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert

from assistant.api.app import create_app
from assistant.llm import Message, OpenAICompatibleChatModel
from assistant.metrics import Metrics, outbox_depth_counter
from assistant.pipeline import Context, Turn
from assistant.service import Assistant
from assistant.storage import Database, SqlConversations
from tests.fakes import ScriptedOpenAIServer

EXPECTED = [
    "assistant_http_requests_total",
    "assistant_http_request_duration_seconds",
    "assistant_pipeline_stage_duration_seconds",
    "assistant_answers_total",
    "assistant_answerability_score",
    "assistant_compositions_total",
    "assistant_llm_calls_total",
    "assistant_llm_fallbacks_total",
    "assistant_llm_errors_total",
    "assistant_output_check_failures_total",
    "assistant_llm_tokens_total",
    "assistant_errors_total",
    "assistant_whatsapp_outbox_depth",
    "assistant_whatsapp_window_drops_total",
]


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def clone(assistant: Assistant, db: Database, llm: OpenAICompatibleChatModel | None = None) -> Assistant:
    copied = copy.copy(assistant)
    copied.conversations = SqlConversations(db)
    copied.observers = []
    if llm is not None:
        ctx = assistant.context
        copied.context = Context(ctx.settings, ctx.prompts, ctx.retriever, ctx.classifier, llm=llm)
    return copied


@pytest.fixture
def app_parts(fixture_assistant: Assistant, tmp_path: Path) -> tuple[TestClient, Database]:
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "appdata"})
    db = Database(f"sqlite:///{tmp_path / 'metrics.db'}")
    app = create_app(
        settings.model_copy(update={"database_url": db.url}), assistant=clone(fixture_assistant, db)
    )
    return TestClient(app, raise_server_exceptions=False), db


def test_metrics_endpoint_lists_every_metric(app_parts: tuple[TestClient, Database]) -> None:
    client, _ = app_parts
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    for name in EXPECTED:
        assert name.removesuffix("_total") in names, name


def test_counts_move_after_a_chat(app_parts: tuple[TestClient, Database]) -> None:
    client, _ = app_parts
    before = client.get("/metrics").text
    assert sample(before, "assistant_answers_total", status="answered") == 0
    body = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()
    assert body["status"] == "answered"
    client.post("/v1/chat", json={"message": "Hallo!"})
    client.get("/bestaat/niet/42")
    after = client.get("/metrics").text
    assert sample(after, "assistant_answers_total", status="answered", reason="", channel="web") == 1
    assert sample(after, "assistant_answers_total", status="answered", reason="greeting") == 1
    assert sample(after, "assistant_http_requests_total", method="POST", route="/v1/chat", status="200") == 2
    assert (
        sample(after, "assistant_http_request_duration_seconds_count", method="POST", route="/v1/chat") == 2
    )
    assert sample(after, "assistant_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert sample(after, "assistant_http_requests_total", method="GET", route="/metrics", status="200") == 1
    assert sample(after, "assistant_pipeline_stage_duration_seconds_count", stage="retrieve") == 1
    assert sample(after, "assistant_pipeline_stage_duration_seconds_count", stage="classify") == 2
    assert sample(after, "assistant_pipeline_stage_duration_seconds_sum", stage="retrieve") > 0
    assert sample(after, "assistant_answerability_score_count") == 1  # the greeting never reached retrieval
    assert 0.8 < sample(after, "assistant_answerability_score_sum") <= 1.1
    assert sample(after, "assistant_compositions_total", composer="extractive") == 1
    assert sample(after, "assistant_llm_calls_total") == 0


def test_a_pipeline_failure_counts_as_an_error(fixture_assistant: Assistant, tmp_path: Path) -> None:
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "broken"})

    def explode(turn: object, ctx: object) -> None:
        raise RuntimeError("boom")

    broken = Assistant(settings, embedder=fixture_assistant.embedder, stages=[explode])
    client = TestClient(create_app(settings, assistant=broken), raise_server_exceptions=False)
    assert client.post("/v1/chat", json={"message": "Hoe word ik leraar?"}).json()["reason"] == "error"
    text = client.get("/metrics").text
    assert sample(text, "assistant_errors_total", kind="pipeline") == 1
    assert sample(text, "assistant_answers_total", status="no_answer", reason="error") == 1


def test_llm_calls_fallbacks_and_errors(fixture_assistant: Assistant, tmp_path: Path) -> None:
    wrong = "De deeltijdpabo duurt 17 jaar [1]."
    right = "Hoe lang de deeltijdpabo duurt, verschilt per hogeschool [1]."
    db = Database(f"sqlite:///{tmp_path / 'llm.db'}")
    settings = fixture_assistant.settings.model_copy(
        update={"data_dir": tmp_path / "appdata", "database_url": db.url}
    )
    with ScriptedOpenAIServer([{"reply": wrong}, {"reply": right}, {"status": 500}]) as server:
        model = OpenAICompatibleChatModel(server.url, "m", timeout=5)
        client = TestClient(create_app(settings, assistant=clone(fixture_assistant, db, model)))
        first = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()
        second = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()
        assert len(server.chat_requests()) == 3
    assert first["answer"] == right and second["status"] == "answered"
    text = client.get("/metrics").text
    assert sample(text, "assistant_llm_calls_total") == 3  # a rejected answer, its retry, a failed call
    assert sample(text, "assistant_output_check_failures_total") == 1
    assert sample(text, "assistant_llm_errors_total") == 1
    assert sample(text, "assistant_llm_fallbacks_total") == 1
    assert sample(text, "assistant_compositions_total", composer="llm") == 1
    assert sample(text, "assistant_compositions_total", composer="extractive-fallback") == 1


def test_observe_turn_counts_llm_attempts() -> None:
    metrics = Metrics()
    turn = Turn(raw="", composer="extractive-fallback", checks_failed=["citations: none", "llm_error"])
    turn.timings = {"compose": 12.0}
    metrics.observe_turn(turn)
    metrics.observe_turn(Turn(raw="", composer="extractive"))
    text = metrics.render().decode()
    assert sample(text, "assistant_llm_calls_total") == 2
    assert sample(text, "assistant_llm_errors_total") == 1
    assert sample(text, "assistant_llm_fallbacks_total") == 1
    assert sample(text, "assistant_pipeline_stage_duration_seconds_sum", stage="compose") == pytest.approx(
        0.012
    )


def test_tokens_of_streamed_and_whole_replies_are_counted() -> None:
    with ScriptedOpenAIServer([{"reply": "Een antwoord met bron [1]."}]) as server:
        model = OpenAICompatibleChatModel(server.url, "m", timeout=5)
        metrics = Metrics(llm=model)
        message: Message = {"role": "user", "content": "vraag"}
        assert "".join(model.stream([message])) == "Een antwoord met bron [1]."
        assert server.chat_requests()[-1]["body"]["stream_options"] == {"include_usage": True}
        text = metrics.render().decode()
        assert sample(text, "assistant_llm_tokens_total", kind="prompt") == 10
        assert sample(text, "assistant_llm_tokens_total", kind="completion") == 5
        model.complete([message])
        assert sample(metrics.render().decode(), "assistant_llm_tokens_total", kind="prompt") == 20
        # A server that rejects stream_options: the setting leaves it out, and nothing is counted.
        quiet = OpenAICompatibleChatModel(server.url, "m", timeout=5, stream_usage=False)
        quiet.usage_hooks.append(metrics.count_tokens)
        assert "".join(quiet.stream([message]))
        assert "stream_options" not in server.chat_requests()[-1]["body"]
        assert sample(metrics.render().decode(), "assistant_llm_tokens_total", kind="completion") == 10


def test_outbox_depth_counts_waiting_rows(app_parts: tuple[TestClient, Database]) -> None:
    from assistant.whatsapp_store import outbox

    client, db = app_parts
    stamp = datetime.now(UTC)
    with db.engine.begin() as conn:
        for n, status in enumerate(["pending", "sending", "sent", "failed", "pending"]):
            conn.execute(
                insert(outbox).values(
                    idempotency_key=f"wamid.{n}",
                    inbound_id=n,
                    part=0,
                    sender_hash="h",
                    payload="{}",
                    status=status,
                    attempts=0,
                    next_attempt_at=stamp,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
    assert sample(client.get("/metrics").text, "assistant_whatsapp_outbox_depth") == 3


def test_outbox_depth_is_zero_without_the_table() -> None:
    bare = types.SimpleNamespace(engine=create_engine("sqlite://"))
    assert outbox_depth_counter(bare)() == 0.0  # type: ignore[arg-type]


def test_several_apps_keep_separate_registries(fixture_assistant: Assistant, tmp_path: Path) -> None:
    clients = []
    for n in range(2):
        settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / f"app{n}"})
        clients.append(TestClient(create_app(settings, assistant=fixture_assistant)))
    clients[0].get("/healthz")
    assert sample(clients[0].get("/metrics").text, "assistant_http_requests_total", route="/healthz") == 1
    assert sample(clients[1].get("/metrics").text, "assistant_http_requests_total", route="/healthz") == 0
