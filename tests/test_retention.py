"""Retention: `assistant purge`, the server's periodic purge, and `assistant export` for the advice team."""

from __future__ import annotations

import copy
import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from assistant.cli import app as cli
from assistant.config import get_settings
from assistant.pipeline import HistoryItem
from assistant.service import Assistant
from assistant.storage import Database, FeedbackStore, SqlConversations, conversations, messages, now

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings point at a temp data folder (SQLite)."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(folder))
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", "")
    monkeypatch.delenv("ASSISTANT_RETENTION_DAYS", raising=False)
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def seed(db: Database, age_days: float, status: str = "answered", reason: str | None = None) -> str:
    """A conversation with one exchange and a thumbs down, last active `age_days` ago."""
    store = SqlConversations(db)
    conversation_id = store.new("widget", "default")
    store.append(
        conversation_id,
        [HistoryItem(role="user", text=f"vraag {age_days}"), HistoryItem(role="assistant", text="antwoord")],
        status=status,
        reason=reason,
        score=0.8512,
    )
    FeedbackStore(db).add(conversation_id, 0, "down", "[E-MAIL] snapt het niet")
    stamp = now() - timedelta(days=age_days)
    with db.engine.begin() as conn:
        conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(created_at=stamp, updated_at=stamp)
        )
        conn.execute(
            update(messages).where(messages.c.conversation_id == conversation_id).values(created_at=stamp)
        )
    return conversation_id


def test_purge_command_deletes_only_old_conversations(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite:///{data_dir / 'assistant.db'}")
    old, middle, recent = seed(db, 200), seed(db, 30), seed(db, 1)
    store = SqlConversations(db)
    result = runner.invoke(cli, ["purge"])
    assert result.exit_code == 0, result.output
    assert "Purged 1 conversations older than 90 days (2 messages, 1 feedback;" in result.output
    assert not store.exists(old) and store.exists(middle) and store.exists(recent)
    monkeypatch.setenv("ASSISTANT_RETENTION_DAYS", "20")
    get_settings.cache_clear()
    result = runner.invoke(cli, ["purge"])
    assert "Purged 1 conversations older than 20 days" in result.output
    assert not store.exists(middle) and store.exists(recent)
    assert [r["conversation_id"] for r in FeedbackStore(db).all()] == [recent]
    assert "Purged 0 conversations" in runner.invoke(cli, ["purge"]).output


def test_purge_command_also_forgets_finished_whatsapp_records(data_dir: Path) -> None:
    from sqlalchemy import func, insert, select

    from assistant.whatsapp_store import inbound, outbox, statuses, windows

    db = Database(f"sqlite:///{data_dir / 'assistant.db'}")
    old, recent = now() - timedelta(days=120), now() - timedelta(days=2)
    with db.engine.begin() as conn:
        for n, (stamp, state) in enumerate([(old, "processed"), (recent, "processed"), (old, "received")]):
            conn.execute(
                insert(inbound).values(
                    message_id=f"wamid.{n}",
                    sender_hash=f"h{n}",
                    kind="text",
                    status=state,
                    received_at=stamp,
                    processed_at=stamp if state == "processed" else None,
                )
            )
        for n, (stamp, state) in enumerate(
            [(old, "sent"), (old, "failed"), (recent, "sent"), (old, "pending")]
        ):
            conn.execute(
                insert(outbox).values(
                    idempotency_key=f"k{n}",
                    inbound_id=n,
                    part=0,
                    sender_hash=f"h{n}",
                    payload="{}",
                    status=state,
                    attempts=1,
                    next_attempt_at=stamp,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
        conn.execute(insert(statuses).values(graph_message_id="g1", status="read", recorded_at=old))
        conn.execute(insert(statuses).values(graph_message_id="g2", status="read", recorded_at=recent))
        conn.execute(insert(windows).values(sender_hash="h0", last_inbound_at=old))
        conn.execute(insert(windows).values(sender_hash="h1", last_inbound_at=recent))
    result = runner.invoke(cli, ["purge"])
    assert result.exit_code == 0, result.output
    assert "5 WhatsApp records" in result.output, result.output
    with db.engine.connect() as conn:
        left = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (inbound, outbox, statuses, windows)
        }
        pending = conn.execute(select(outbox.c.status).where(outbox.c.idempotency_key == "k3")).scalar_one()
        unanswered = conn.execute(
            select(inbound.c.status).where(inbound.c.message_id == "wamid.2")
        ).scalar_one()
    # Kept: everything recent, and old work that is not finished (a pending reply, an unanswered message).
    assert left == {
        "whatsapp_inbound": 2,
        "whatsapp_outbox": 2,
        "whatsapp_statuses": 1,
        "whatsapp_windows": 1,
    }
    assert pending == "pending" and unanswered == "received"


def test_the_server_purges_periodically(fixture_assistant: Assistant, tmp_path: Path) -> None:
    from assistant.api.app import create_app

    settings = fixture_assistant.settings.model_copy(
        update={"data_dir": tmp_path / "appdata", "purge_interval_hours": 0.2 / 3600}
    )
    app = create_app(settings, assistant=fixture_assistant)
    old, recent = seed(app.state.db, 120), seed(app.state.db, 2)
    store = SqlConversations(app.state.db)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while store.exists(old) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not store.exists(old) and store.exists(recent)
        task = app.state.purge_task
        assert not task.done()
        time.sleep(0.5)  # more rounds run without trouble
        assert not task.done()
        new_old = seed(app.state.db, 100)  # aged between rounds
        deadline = time.monotonic() + 10
        while store.exists(new_old) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not store.exists(new_old)
    assert task.cancelled() or task.done()


def test_no_periodic_purge_when_disabled(fixture_assistant: Assistant, tmp_path: Path) -> None:
    from assistant.api.app import create_app

    settings = fixture_assistant.settings.model_copy(
        update={"data_dir": tmp_path / "appdata", "purge_interval_hours": 0}
    )
    app = create_app(settings, assistant=fixture_assistant)
    old = seed(app.state.db, 120)
    with TestClient(app):
        time.sleep(0.2)
        assert getattr(app.state, "purge_task", None) is None
    assert SqlConversations(app.state.db).exists(old)


def test_export_csv_and_json(data_dir: Path, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'assistant.db'}")
    seed(db, 40)
    recent = seed(db, 2, status="no_answer", reason="no_answer")
    since = (datetime.now() - timedelta(days=10)).strftime("%Y-%m-%d")

    result = runner.invoke(cli, ["export", "--since", since])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["conversation_id"], r["role"]) for r in rows] == [(recent, "user"), (recent, "assistant")]
    answer = rows[1]
    assert (answer["status"], answer["reason"], answer["score"]) == ("no_answer", "no_answer", "0.8512")
    assert (answer["feedback_rating"], answer["feedback_comment"]) == ("down", "[E-MAIL] snapt het niet")
    assert answer["answer_index"] == "0" and rows[0]["feedback_rating"] == ""

    out = tmp_path / "export.json"
    result = runner.invoke(cli, ["export", "--since", since, "--format", "json", "--out", str(out)])
    assert result.exit_code == 0 and "Exported 1 conversations" in result.output
    body = json.loads(out.read_text())
    (conversation,) = body["conversations"]
    assert conversation["id"] == recent and conversation["channel"] == "widget"
    user, reply = conversation["messages"]
    assert user["role"] == "user" and "feedback" not in user
    assert reply["status"] == "no_answer" and reply["score"] == pytest.approx(0.8512)
    assert reply["feedback"][0]["rating"] == "down"

    everything = runner.invoke(cli, ["export", "--since", "2000-01-01", "--format", "json"])
    assert len(json.loads(everything.stdout)["conversations"]) == 2
    assert runner.invoke(cli, ["export", "--since", "gisteren"]).exit_code == 2
    assert runner.invoke(cli, ["export", "--since", since, "--format", "xml"]).exit_code == 2


def test_exported_conversations_are_scrubbed(
    data_dir: Path, fixture_assistant: Assistant, tmp_path: Path
) -> None:
    """A chat through the app with personal data: the export has the placeholders, never the values."""
    from assistant.api.app import create_app

    settings = fixture_assistant.settings.model_copy(update={"data_dir": data_dir})
    assistant = copy.copy(fixture_assistant)
    db = Database(f"sqlite:///{data_dir / 'assistant.db'}")
    assistant.conversations, assistant.observers = SqlConversations(db), []
    client = TestClient(create_app(settings, assistant=assistant))
    body = client.post(
        "/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo? Mail naar jan.jansen@example.com"}
    ).json()
    client.post(
        "/v1/feedback",
        json={
            "conversation_id": body["conversation_id"],
            "message_index": 0,
            "rating": "up",
            "comment": "Bel me op 0612345678",
        },
    )
    text = runner.invoke(cli, ["export", "--since", "2000-01-01", "--format", "json"]).stdout
    assert "jan.jansen@example.com" not in text and "0612345678" not in text
    (conversation,) = json.loads(text)["conversations"]
    user, reply = conversation["messages"]
    assert "[E-MAIL]" in user["text"] and reply["status"] == "answered"
    assert reply["feedback"] == [
        {"rating": "up", "comment": "Bel me op [TELEFOON]", "created_at": reply["feedback"][0]["created_at"]}
    ]
