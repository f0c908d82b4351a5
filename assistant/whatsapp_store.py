"""WhatsApp bookkeeping in SQL: inbound messages (dedupe), the outbox of replies, delivery statuses, windows.

Privacy: a sender is known by a salted hash of their WhatsApp number (`sender_hash`). The number itself is
needed for exactly one thing, the `to` of a reply, so it is kept in plain text only while a message is still
being worked on: on the inbound row until its replies are in the outbox, and on each outbox row until that
row is final (sent, failed or dropped). The same transaction that finalises a row blanks the number.
Encrypting it instead would need a key that lives next to the database credentials anyway (and a crypto
dependency the project does not have); blanking keeps the exposure to seconds in normal operation and to the
retry window when Meta is down. Message text is blanked the same way once it has been answered (the
conversation store keeps only scrubbed text).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from assistant.storage import Database

metadata = MetaData()

inbound = Table(
    "whatsapp_inbound",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(255), nullable=False, unique=True),  # Meta's wamid: the dedupe key
    Column("sender_hash", String(64), nullable=False, index=True),
    Column("recipient", String(64)),  # the sender's wa_id, only until the replies are in the outbox
    Column("kind", String(16), nullable=False),  # text, unsupported, ignored
    Column("text", Text),  # only until answered
    Column("base_url", String(255), nullable=False, default=""),  # for relative links in the reply
    Column("status", String(16), nullable=False, index=True),  # received, processing, processed
    Column("sent_at", DateTime(timezone=True)),  # the user's timestamp, as Meta reports it
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True)),
    Column("processed_at", DateTime(timezone=True)),
)

outbox = Table(
    "whatsapp_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(300), nullable=False, unique=True),  # inbound message id + part
    Column("inbound_id", Integer, nullable=False, index=True),
    Column("part", Integer, nullable=False),
    Column("sender_hash", String(64), nullable=False, index=True),
    Column("recipient", String(64)),  # wa_id, blanked when the row is final
    Column("payload", Text, nullable=False),  # the Cloud API message object without "to"
    Column(
        "status", String(16), nullable=False, index=True
    ),  # pending, sending, sent, failed, dropped_window
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("graph_message_id", String(255), unique=True),
    Column("delivery_status", String(16)),  # the latest status webhook: sent, delivered, read, failed
    Column("delivery_error_code", Integer),
    Column("delivery_error_title", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
)

statuses = Table(
    "whatsapp_statuses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("graph_message_id", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("error_code", Integer),
    Column("error_title", String(255)),
    Column("timestamp", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("graph_message_id", "status", name="uq_whatsapp_status"),
)

windows = Table(
    "whatsapp_windows",
    metadata,
    Column("sender_hash", String(64), primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True), nullable=False),
)

TABLES = (inbound, outbox, statuses, windows)

# Later statuses win; one arriving out of order never moves a message back.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
FINAL = ("sent", "failed", "dropped_window")


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; everything here is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class InboundMessage:
    message_id: str
    sender_hash: str
    recipient: str
    kind: str
    text: str
    sent_at: datetime


@dataclass
class StatusUpdate:
    graph_message_id: str
    status: str
    timestamp: datetime | None = None
    error_code: int | None = None
    error_title: str | None = None


@dataclass
class OutboxRow:
    id: int
    idempotency_key: str
    inbound_id: int
    part: int
    sender_hash: str
    recipient: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> OutboxRow:
        m = row._mapping
        return cls(
            id=m["id"],
            idempotency_key=m["idempotency_key"],
            inbound_id=m["inbound_id"],
            part=m["part"],
            sender_hash=m["sender_hash"],
            recipient=m["recipient"],
            payload=json.loads(m["payload"]),
            status=m["status"],
            attempts=m["attempts"],
            next_attempt_at=utc(m["next_attempt_at"]) or now(),
        )


def create_tables(conn: Connection) -> None:
    """Used by the migration that introduces the WhatsApp tables."""
    for table in TABLES:
        table.create(conn, checkfirst=True)


class WhatsAppStore:
    """Every state change is one short transaction; claims are conditional updates, so several worker
    processes over one database never handle the same row twice."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine

    # --- receiving ---------------------------------------------------------------------------------
    def record_inbound(self, message: InboundMessage, base_url: str = "") -> bool:
        """Store a message as 'received' and move the user's 24-hour window; False for a duplicate."""
        stamp = now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(inbound).values(
                        message_id=message.message_id,
                        sender_hash=message.sender_hash,
                        recipient=message.recipient,
                        kind=message.kind,
                        text=message.text,
                        base_url=base_url[:255],
                        status="received",
                        sent_at=message.sent_at,
                        received_at=stamp,
                    )
                )
                self._touch_window(conn, message.sender_hash, min(message.sent_at, stamp))
        except IntegrityError:
            return False  # the unique message id: Meta delivered it before
        return True

    def _touch_window(self, conn: Connection, sender_hash: str, at: datetime) -> None:
        current = conn.execute(
            select(windows.c.last_inbound_at).where(windows.c.sender_hash == sender_hash)
        ).scalar_one_or_none()
        if current is None:
            conn.execute(insert(windows).values(sender_hash=sender_hash, last_inbound_at=at))
        elif (utc(current) or at) < at:
            conn.execute(
                update(windows).where(windows.c.sender_hash == sender_hash).values(last_inbound_at=at)
            )

    def last_inbound(self, sender_hash: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(windows.c.last_inbound_at).where(windows.c.sender_hash == sender_hash)
            ).scalar_one_or_none()
        return utc(value)

    def record_status(self, update_: StatusUpdate) -> bool:
        """Keep a delivery status and apply it to the outbox row with that Graph id (if known yet)."""
        stamp = now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(statuses).values(
                        graph_message_id=update_.graph_message_id,
                        status=update_.status[:16],
                        error_code=update_.error_code,
                        error_title=update_.error_title[:255] if update_.error_title else None,
                        timestamp=update_.timestamp,
                        recorded_at=stamp,
                    )
                )
                self._apply_statuses(conn, update_.graph_message_id)
        except IntegrityError:
            return False  # the same status for the same message, delivered again
        return True

    def _apply_statuses(self, conn: Connection, graph_message_id: str) -> None:
        """The outbox row gets the highest-ranked status seen for its Graph id (statuses may race the send)."""
        rows = conn.execute(
            select(statuses.c.status, statuses.c.error_code, statuses.c.error_title).where(
                statuses.c.graph_message_id == graph_message_id
            )
        ).all()
        if not rows:
            return
        best = max(rows, key=lambda r: STATUS_RANK.get(r.status, 0))
        conn.execute(
            update(outbox)
            .where(outbox.c.graph_message_id == graph_message_id)
            .values(
                delivery_status=best.status,
                delivery_error_code=best.error_code,
                delivery_error_title=best.error_title,
                updated_at=now(),
            )
        )

    # --- processing --------------------------------------------------------------------------------
    def claim_inbound(self, lease: float) -> dict[str, Any] | None:
        """The oldest message waiting for an answer, claimed; a claim older than `lease` seconds was
        abandoned by a stopped worker and is taken over (answering twice is prevented by the outbox keys)."""
        stamp = now()
        stale = stamp - timedelta(seconds=lease)
        waiting = or_(
            inbound.c.status == "received",
            (inbound.c.status == "processing") & (inbound.c.claimed_at < stale),
        )
        with self.engine.begin() as conn:
            for candidate in conn.execute(
                select(inbound.c.id).where(waiting).order_by(inbound.c.id).limit(20)
            ).all():
                # Conditional on the same test: of two workers racing for a row, one update wins.
                claimed = conn.execute(
                    update(inbound)
                    .where(inbound.c.id == candidate.id, waiting)
                    .values(status="processing", claimed_at=stamp)
                ).rowcount
                if claimed:
                    row = conn.execute(select(inbound).where(inbound.c.id == candidate.id)).one()
                    return dict(row._mapping)
        return None

    def complete_inbound(self, inbound_id: int, payloads: Sequence[dict[str, Any]]) -> int:
        """Put the reply parts in the outbox and close the inbound message, in one transaction."""
        stamp = now()
        with self.engine.begin() as conn:
            row = conn.execute(select(inbound).where(inbound.c.id == inbound_id)).one()
            if row.status == "processed":
                return 0  # a slower worker whose claim had expired: the reply is already queued
            created = 0
            for part, payload in enumerate(payloads):
                key = f"{row.message_id}:{part}"
                exists = conn.execute(select(outbox.c.id).where(outbox.c.idempotency_key == key)).first()
                if exists is not None:
                    continue  # a worker that stopped after this point already queued it
                conn.execute(
                    insert(outbox).values(
                        idempotency_key=key,
                        inbound_id=inbound_id,
                        part=part,
                        sender_hash=row.sender_hash,
                        recipient=row.recipient,
                        payload=json.dumps(payload, ensure_ascii=False),
                        status="pending",
                        attempts=0,
                        next_attempt_at=stamp,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
                created += 1
            conn.execute(
                update(inbound)
                .where(inbound.c.id == inbound_id)
                .values(status="processed", processed_at=stamp, recipient=None, text=None)
            )
        return created

    # --- sending -----------------------------------------------------------------------------------
    def sendable(self, at: datetime) -> list[OutboxRow]:
        """Per recipient, the first unfinished row, if it is due: a later part never overtakes an earlier
        one that is waiting for a retry."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.status.in_(("pending", "sending")))
                .order_by(outbox.c.inbound_id, outbox.c.part)
            ).all()
        seen: set[str] = set()
        due: list[OutboxRow] = []
        for row in rows:
            if row.sender_hash in seen:
                continue
            seen.add(row.sender_hash)
            item = OutboxRow.of(row)
            if item.status == "pending" and item.next_attempt_at <= at:
                due.append(item)
        return due

    def next_due(self) -> datetime | None:
        """When there is work next: now for unanswered messages, else the earliest pending retry."""
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(func.count()).select_from(inbound).where(inbound.c.status == "received")
            ).scalar_one()
            if waiting:
                return now()
            earliest = conn.execute(
                select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
            ).scalar_one_or_none()
        return utc(earliest)

    def claim_outbox(self, row_id: int) -> bool:
        """pending -> sending, counting the attempt; False when another worker got there first."""
        stamp = now()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id, outbox.c.status == "pending")
                    .values(
                        status="sending",
                        attempts=outbox.c.attempts + 1,
                        claimed_at=stamp,
                        updated_at=stamp,
                    )
                ).rowcount
            )

    def mark_sent(self, row_id: int, graph_message_id: str | None) -> None:
        """Sent and the Graph id recorded together (and the number blanked): a sent row is never sent again."""
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    status="sent",
                    graph_message_id=graph_message_id,
                    recipient=None,
                    sent_at=stamp,
                    updated_at=stamp,
                    last_error=None if graph_message_id else "no message id in the Graph response",
                )
            )
            if graph_message_id:
                self._apply_statuses(conn, graph_message_id)

    def mark_retry(self, row_id: int, at: datetime, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(status="pending", next_attempt_at=at, last_error=error[:1000], updated_at=now())
            )

    def mark_final(self, row_id: int, status: str, error: str, expected: str = "sending") -> bool:
        """failed or dropped_window, with the reason; the number is blanked."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id, outbox.c.status == expected)
                    .values(status=status, last_error=error[:1000], recipient=None, updated_at=now())
                ).rowcount
            )

    def expire_claims(self, lease: float) -> list[int]:
        """Rows claimed by a worker that stopped mid-send: the request may or may not have reached Meta.
        They are failed rather than sent again, so nobody ever gets a part twice."""
        stale = now() - timedelta(seconds=lease)
        with self.engine.begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    select(outbox.c.id).where(outbox.c.status == "sending", outbox.c.claimed_at < stale)
                ).all()
            ]
            for row_id in ids:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id, outbox.c.status == "sending")
                    .values(
                        status="failed",
                        recipient=None,
                        last_error="interrupted while sending: delivery unknown, not retried",
                        updated_at=now(),
                    )
                )
        return ids

    # --- inspection and retention -------------------------------------------------------------------
    def outbox_rows(self, message_id: str | None = None) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.inbound_id, outbox.c.part)
        if message_id is not None:
            query = query.where(
                outbox.c.inbound_id.in_(select(inbound.c.id).where(inbound.c.message_id == message_id))
            )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def inbound_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(inbound).order_by(inbound.c.id))]

    def status_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(statuses).order_by(statuses.c.id))]

    def purge(self, days: int) -> int:
        """Forget finished work older than `days` (dedupe only has to outlast Meta's redelivery, ~7 days)."""
        with self.engine.begin() as conn:
            return purge_records(conn, now() - timedelta(days=days))


def purge_records(conn: Connection, cutoff: datetime) -> int:
    """Delete finished WhatsApp work from before `cutoff`; pending and in-flight rows are never touched."""
    removed = conn.execute(
        delete(outbox).where(outbox.c.status.in_(FINAL), outbox.c.updated_at < cutoff)
    ).rowcount
    removed += conn.execute(
        delete(inbound).where(inbound.c.status == "processed", inbound.c.processed_at < cutoff)
    ).rowcount
    removed += conn.execute(delete(statuses).where(statuses.c.recorded_at < cutoff)).rowcount
    removed += conn.execute(delete(windows).where(windows.c.last_inbound_at < cutoff)).rowcount
    return int(removed)
