"""Retention and export: forget old conversations, and hand scrubbed ones to the advice team.

A conversation older than ASSISTANT_RETENTION_DAYS (by its last activity, `updated_at`) is deleted with its
messages and its feedback, by `assistant purge` and by a periodic task in the server; finished WhatsApp
records (inbound dedupe rows, sent or failed outbox rows, delivery statuses, 24-hour windows) of that age go
with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from assistant.storage import conversations, feedback, messages, now
from assistant.whatsapp_store import purge_records

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("assistant.retention")


@dataclass
class Purged:
    conversations: int = 0
    messages: int = 0
    feedback: int = 0
    whatsapp: int = 0

    @property
    def total(self) -> int:
        return self.conversations + self.messages + self.feedback + self.whatsapp


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def purge(engine: Engine, days: int, at: datetime | None = None) -> Purged:
    """Delete conversations without activity for `days` days (messages, feedback), and old WhatsApp work."""
    cutoff = (at or now()) - timedelta(days=days)
    with engine.begin() as conn:
        old = [
            row.id
            for row in conn.execute(select(conversations.c.id).where(conversations.c.updated_at < cutoff))
        ]
        result = Purged()
        for start in range(0, len(old), 500):
            ids = old[start : start + 500]
            result.feedback += conn.execute(
                delete(feedback).where(feedback.c.conversation_id.in_(ids))
            ).rowcount
            result.messages += conn.execute(
                delete(messages).where(messages.c.conversation_id.in_(ids))
            ).rowcount
            result.conversations += conn.execute(
                delete(conversations).where(conversations.c.id.in_(ids))
            ).rowcount
        result.whatsapp = purge_records(conn, cutoff)
    log.info(
        "purged old conversations",
        extra={"event": "purge", "removed": asdict(result), "cutoff": cutoff.isoformat()},
    )
    return result


# --- export ---------------------------------------------------------------------------------------------
def export_conversations(engine: Engine, since: datetime) -> list[dict[str, Any]]:
    """Conversations active since `since`, each with its (scrubbed) messages and feedback.

    Feedback belongs to an answer: its message_index is the 0-based count of assistant messages before it.
    """
    with engine.connect() as conn:
        convs = conn.execute(
            select(conversations)
            .where(conversations.c.updated_at >= since)
            .order_by(conversations.c.created_at, conversations.c.id)
        ).all()
        ids = [c.id for c in convs]
        msg_rows: list[Any] = []
        fb_rows: list[Any] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            msg_rows += conn.execute(
                select(messages)
                .where(messages.c.conversation_id.in_(chunk))
                .order_by(messages.c.conversation_id, messages.c.idx)
            ).all()
            fb_rows += conn.execute(
                select(feedback).where(feedback.c.conversation_id.in_(chunk)).order_by(feedback.c.id)
            ).all()
    feedback_by: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for fb in fb_rows:
        feedback_by.setdefault((fb.conversation_id, fb.message_index), []).append(
            {"rating": fb.rating, "comment": fb.comment, "created_at": _iso(fb.created_at)}
        )
    by_conversation: dict[str, list[dict[str, Any]]] = {}
    answers: dict[str, int] = {}
    for m in msg_rows:
        item: dict[str, Any] = {
            "index": m.idx,
            "role": m.role,
            "text": m.text,
            "blocked": bool(m.blocked),
            "status": m.status,
            "reason": m.reason,
            "score": float(m.score) if m.score not in (None, "") else None,
            "created_at": _iso(m.created_at),
        }
        if m.role == "assistant":
            answer_index = answers.get(m.conversation_id, 0)
            answers[m.conversation_id] = answer_index + 1
            item["answer_index"] = answer_index
            item["feedback"] = feedback_by.get((m.conversation_id, answer_index), [])
        by_conversation.setdefault(m.conversation_id, []).append(item)
    return [
        {
            "id": c.id,
            "channel": c.channel,
            "profile": c.profile,
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
            "messages": by_conversation.get(c.id, []),
        }
        for c in convs
    ]


CSV_FIELDS = [
    "conversation_id",
    "channel",
    "profile",
    "conversation_created_at",
    "index",
    "role",
    "created_at",
    "status",
    "reason",
    "score",
    "blocked",
    "text",
    "answer_index",
    "feedback_rating",
    "feedback_comment",
]


def render_export(items: list[dict[str, Any]], fmt: Literal["csv", "json"], since: datetime) -> str:
    """CSV: one row per message (the latest rating per answer counts); JSON: the whole nested structure."""
    if fmt == "json":
        body = {"since": _iso(since), "exported_at": _iso(now()), "conversations": items}
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for conv in items:
        for m in conv["messages"]:
            rows = m.get("feedback") or []
            latest = rows[-1] if rows else None
            comment = next((r["comment"] for r in reversed(rows) if r["comment"]), None) if latest else None
            writer.writerow(
                {
                    "conversation_id": conv["id"],
                    "channel": conv["channel"],
                    "profile": conv["profile"],
                    "conversation_created_at": conv["created_at"],
                    "index": m["index"],
                    "role": m["role"],
                    "created_at": m["created_at"],
                    "status": m["status"] or "",
                    "reason": m["reason"] or "",
                    "score": "" if m["score"] is None else f"{m['score']:.4f}",
                    "blocked": str(m["blocked"]).lower(),
                    "text": m["text"],
                    "answer_index": m.get("answer_index", ""),
                    "feedback_rating": latest["rating"] if latest else "",
                    "feedback_comment": comment or "",
                }
            )
    return out.getvalue()


def _iso(value: datetime | None) -> str | None:
    stamp = utc(value)
    return stamp.isoformat() if stamp else None


def parse_day(text: str) -> datetime:
    """YYYY-MM-DD as the start of that day in UTC."""
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


# --- the server's periodic purge ---------------------------------------------------------------------------
async def purge_forever(engine: Engine, days: int, interval_seconds: float) -> None:
    """Purge now, then every interval, until cancelled; a failed round is logged and retried next time."""
    from anyio import to_thread

    while True:
        try:
            await to_thread.run_sync(purge, engine, days)
        except Exception:  # noqa: BLE001 - housekeeping must never take the server down
            log.exception("purging old conversations failed")
        await asyncio.sleep(interval_seconds)


def start_purge_task(app: FastAPI) -> asyncio.Task[None] | None:
    """Started in the app's lifespan; None when ASSISTANT_PURGE_INTERVAL_HOURS is 0."""
    settings = app.state.settings
    hours = float(settings.purge_interval_hours)
    if hours <= 0:
        return None
    task = asyncio.create_task(
        purge_forever(app.state.db.engine, settings.retention_days, hours * 3600), name="assistant-purge"
    )
    app.state.purge_task = task
    return task


async def stop_purge_task(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
