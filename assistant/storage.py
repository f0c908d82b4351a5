"""Conversations, messages and feedback in SQL (SQLite under the data folder, or PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from assistant.config import Settings
from assistant.pipeline import HistoryItem

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False, default="web"),
    Column("profile", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        String(64),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("idx", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),  # scrubbed text only
    Column("blocked", Boolean, nullable=False, default=False),
    Column("status", String(16)),
    Column("reason", String(32)),
    Column("score", String(16)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), index=True, nullable=False),
    Column("message_index", Integer, nullable=False),
    Column("rating", String(8), nullable=False),
    Column("comment", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.sqlite_path}"


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL and foreign keys, so readers never block the writer."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """The SQL store; its tables are created by the migrations (or directly for a fresh database)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._lock = threading.Lock()
        from assistant.migrations import upgrade

        upgrade(self.engine)


class SqlConversations:
    """ConversationStore in SQL: history survives restarts and is shared by workers."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine

    def new(self, channel: str = "web", profile: str = "") -> str:
        conversation_id = uuid.uuid4().hex  # fresh: no need to look whether it exists
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(conversations).values(
                    id=conversation_id, channel=channel, profile=profile, created_at=stamp, updated_at=stamp
                )
            )
        return conversation_id

    def ensure(self, conversation_id: str, channel: str = "web", profile: str = "") -> None:
        with self.engine.begin() as conn:
            if (
                conn.execute(select(conversations.c.id).where(conversations.c.id == conversation_id)).first()
                is None
            ):
                stamp = now()
                conn.execute(
                    insert(conversations).values(
                        id=conversation_id,
                        channel=channel,
                        profile=profile,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )

    def exists(self, conversation_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(conversations.c.id).where(conversations.c.id == conversation_id)
            ).first()
        return row is not None

    def history(self, conversation_id: str) -> list[HistoryItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(messages.c.role, messages.c.text, messages.c.blocked)
                .where(messages.c.conversation_id == conversation_id)
                .order_by(messages.c.idx)
            ).all()
        return [HistoryItem(role=r.role, text=r.text, blocked=bool(r.blocked)) for r in rows]

    def append(
        self,
        conversation_id: str,
        items: list[HistoryItem],
        status: str | None = None,
        reason: str | None = None,
        score: float | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(messages)
                .where(messages.c.conversation_id == conversation_id)
            ).scalar_one()
            stamp = now()
            rows = [
                {
                    "conversation_id": conversation_id,
                    "idx": count + offset,
                    "role": item.role,
                    "text": item.text,
                    "blocked": item.blocked,
                    "status": status if item.role == "assistant" else None,
                    "reason": reason if item.role == "assistant" else None,
                    "score": f"{score:.4f}" if score is not None and item.role == "assistant" else None,
                    "created_at": stamp,
                }
                for offset, item in enumerate(items)
            ]
            if rows:
                conn.execute(insert(messages), rows)
            conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(updated_at=stamp)
            )


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self.engine = db.engine

    def add(self, conversation_id: str, message_index: int, rating: str, comment: str | None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(feedback).values(
                    conversation_id=conversation_id,
                    message_index=message_index,
                    rating=rating,
                    comment=comment,
                    created_at=now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def all(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(feedback).order_by(feedback.c.id))]
