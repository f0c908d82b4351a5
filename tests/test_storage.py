"""SQL storage on both backends: SQLite under a temp folder and a real PostgreSQL server started by the test."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, update

from assistant.migrations import MIGRATIONS, upgrade
from assistant.pipeline import HistoryItem
from assistant.retention import purge
from assistant.service import Assistant
from assistant.storage import (
    Database,
    FeedbackStore,
    SqlConversations,
    conversations,
    feedback,
    messages,
    now,
)
from tests.pg import PostgresServer, binaries


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = binaries()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does this)")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'assistant.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.engine.dispose()


def sql_assistant(assistant: Assistant, db: Database) -> Assistant:
    """The session's ingested assistant, but keeping its conversations in `db`."""
    clone = copy.copy(assistant)
    clone.conversations = SqlConversations(db)
    clone.observers = []
    return clone


def test_migrations_apply_and_are_idempotent(db: Database, db_url: str) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"conversations", "messages", "feedback", "schema_version", "whatsapp_outbox"} <= tables
    assert upgrade(db.engine) == len(MIGRATIONS)
    again = Database(db_url)  # a second process starting on the same database
    assert upgrade(again.engine) == len(MIGRATIONS)
    again.engine.dispose()
    if db_url.startswith("postgresql"):
        assert db.engine.dialect.name == "postgresql" and db.engine.dialect.driver == "psycopg"


def test_append_and_history_round_trip(db: Database) -> None:
    store = SqlConversations(db)
    conversation_id = store.new("widget", "default")
    assert store.exists(conversation_id) and not store.exists("nope")
    store.append(
        conversation_id,
        [HistoryItem(role="user", text="Hoe word ik leraar?"), HistoryItem(role="assistant", text="Zo.")],
        status="answered",
        reason=None,
        score=0.91234,
    )
    store.append(
        conversation_id,
        [
            HistoryItem(role="user", text="[NAAM] vraagt iets", blocked=True),
            HistoryItem(role="assistant", text="Nee.", blocked=True),
        ],
        status="refused",
        reason="out_of_scope",
    )
    history = store.history(conversation_id)
    assert [(h.role, h.text, h.blocked) for h in history] == [
        ("user", "Hoe word ik leraar?", False),
        ("assistant", "Zo.", False),
        ("user", "[NAAM] vraagt iets", True),
        ("assistant", "Nee.", True),
    ]
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(messages.c.idx, messages.c.role, messages.c.status, messages.c.reason, messages.c.score)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.idx)
        ).all()
    assert [tuple(r) for r in rows] == [
        (0, "user", None, None, None),
        (1, "assistant", "answered", None, "0.9123"),
        (2, "user", None, None, None),
        (3, "assistant", "refused", "out_of_scope", None),
    ]


def test_feedback_is_stored(db: Database) -> None:
    store = SqlConversations(db)
    conversation_id = store.new()
    feedback_store = FeedbackStore(db)
    first = feedback_store.add(conversation_id, 0, "down", "[E-MAIL] wil meer weten")
    second = feedback_store.add(conversation_id, 0, "up", None)
    assert second > first
    rows = feedback_store.all()
    assert [(r["conversation_id"], r["message_index"], r["rating"], r["comment"]) for r in rows] == [
        (conversation_id, 0, "down", "[E-MAIL] wil meer weten"),
        (conversation_id, 0, "up", None),
    ]


def test_purge_removes_old_conversations_with_messages_and_feedback(db: Database) -> None:
    store, feedback_store = SqlConversations(db), FeedbackStore(db)
    old, recent = store.new(), store.new()
    for conversation_id in (old, recent):
        store.append(
            conversation_id,
            [HistoryItem(role="user", text="vraag"), HistoryItem(role="assistant", text="antwoord")],
            status="answered",
        )
        feedback_store.add(conversation_id, 0, "up", None)
    with db.engine.begin() as conn:
        conn.execute(
            update(conversations)
            .where(conversations.c.id == old)
            .values(updated_at=now() - timedelta(days=91))
        )
    result = purge(db.engine, 90)
    assert (result.conversations, result.messages, result.feedback) == (1, 2, 1)
    assert not store.exists(old) and store.exists(recent)
    assert len(store.history(recent)) == 2
    with db.engine.connect() as conn:
        assert conn.execute(select(messages.c.conversation_id).distinct()).scalars().all() == [recent]
        assert conn.execute(select(feedback.c.conversation_id)).scalars().all() == [recent]
    assert purge(db.engine, 90).total == 0


def test_assistant_stores_status_reason_and_score(db: Database, fixture_assistant: Assistant) -> None:
    assistant = sql_assistant(fixture_assistant, db)
    turn = assistant.ask("Hoe lang duurt de deeltijdpabo? Mail me op jan@example.com", channel="widget")
    assert turn.status == "answered"
    assert "jan@example.com" not in turn.text
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(messages.c.role, messages.c.text, messages.c.status, messages.c.reason, messages.c.score)
            .where(messages.c.conversation_id == turn.conversation_id)
            .order_by(messages.c.idx)
        ).all()
        channel = conn.execute(
            select(conversations.c.channel).where(conversations.c.id == turn.conversation_id)
        ).scalar_one()
    assert channel == "widget"
    (user, answer) = rows
    assert user.status is None and "jan@example.com" not in user.text and "[E-MAIL]" in user.text
    assert answer.status == "answered" and answer.reason is None
    assert float(answer.score) == pytest.approx(turn.answerability, abs=1e-4)
    greeting = assistant.ask("Hallo!", conversation_id=turn.conversation_id)
    assert greeting.reason == "greeting"
    assert len(assistant.conversations.history(turn.conversation_id)) == 4
    with db.engine.connect() as conn:
        last = conn.execute(
            select(messages.c.status, messages.c.reason, messages.c.score)
            .where(messages.c.conversation_id == turn.conversation_id)
            .order_by(messages.c.idx.desc())
            .limit(1)
        ).one()
    assert tuple(last) == ("answered", "greeting", None)  # no retrieval, so no score


def test_app_stores_chats_and_feedback(
    db: Database, db_url: str, fixture_assistant: Assistant, tmp_path: Path
) -> None:
    from assistant.api.app import create_app

    settings = fixture_assistant.settings.model_copy(
        update={"data_dir": tmp_path / "appdata", "database_url": db_url}
    )
    client = TestClient(create_app(settings, assistant=sql_assistant(fixture_assistant, db)))
    body = client.post("/v1/chat", json={"message": "Hoe lang duurt de deeltijdpabo?"}).json()
    response = client.post(
        "/v1/feedback",
        json={"conversation_id": body["conversation_id"], "message_index": 0, "rating": "down"},
    )
    assert response.status_code == 201
    with db.engine.connect() as conn:
        assert conn.execute(
            select(messages.c.status).where(messages.c.conversation_id == body["conversation_id"])
        ).scalars().all() == [None, "answered"]
        assert conn.execute(select(feedback.c.rating)).scalars().all() == ["down"]
