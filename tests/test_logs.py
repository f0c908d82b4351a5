"""Structured JSON logs: one object per line, a request id echoed per request, never message text."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.logs import JsonFormatter, configure_logging
from assistant.service import Assistant


@pytest.fixture
def client(fixture_assistant: Assistant, tmp_path: Path) -> TestClient:
    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "appdata"})
    return TestClient(create_app(settings, assistant=fixture_assistant), raise_server_exceptions=False)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged (any logger, DEBUG and up) as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/healthz").headers["x-request-id"] != generated
    odd = client.get("/healthz", headers={"X-Request-ID": "no spaces <allowed>"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", odd)
    assert client.post("/v1/chat", json={}).headers["x-request-id"]  # errors carry one too


def test_chat_logs_carry_outcome_and_request_id_but_no_text(
    client: TestClient, captured: io.StringIO
) -> None:
    message = "Hoe lang duurt de deeltijdpabo voor een zebrapaardtemmer? Bel 0612345678"
    response = client.post("/v1/chat", json={"message": message}, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    answer = response.json()["answer"]
    output = captured.getvalue()
    entries = lines(captured)
    turn = next(e for e in entries if e.get("event") == "turn")
    assert turn["request_id"] == "req-42" and turn["logger"] == "assistant.turns"
    assert turn["status"] == "answered" and turn["conversation_id"] == response.json()["conversation_id"]
    assert turn["pii_kinds"] == ["phone"]
    assert "retrieve" in turn["timings_ms"]  # type: ignore[operator]
    assert {"timestamp", "level", "logger", "message"} <= set(turn)
    access = next(e for e in entries if e.get("event") == "request")
    assert access["route"] == "/v1/chat" and access["status_code"] == 200 and access["request_id"] == "req-42"
    for secret in ("zebrapaard", "0612345678", "deeltijdpabo voor", answer[:40]):
        assert secret not in output, secret


def test_formatter_drops_unknown_extras_and_exception_messages() -> None:
    record = logging.LogRecord("assistant.x", logging.ERROR, __file__, 1, "failed for %s", ("c1",), None)
    record.status = "no_answer"
    record.text = "my private question"
    private = " ".join(["my", "private", "question"])  # not a literal: the stack shows source lines
    try:
        raise ValueError(private)
    except ValueError:
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed for c1" and entry["status"] == "no_answer"
    assert entry["exc_type"] == "ValueError" and "raise ValueError(private)" in entry["stack"]
    assert "my private question" not in json.dumps(entry)


def test_configure_logging_writes_json_lines() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        configure_logging("INFO", stream=stream)
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("assistant.test").debug("not at INFO")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    (entry,) = lines(stream)
    assert entry["logger"] == "uvicorn.error" and entry["level"] == "INFO"
    assert entry["message"] == "Started server process" and entry["request_id"] is None
