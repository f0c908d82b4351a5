"""Schema migrations, applied in order at start-up (alembic's operations, versioned in one table)."""

from __future__ import annotations

from collections.abc import Callable

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Integer, MetaData, Table, inspect, select
from sqlalchemy.engine import Connection, Engine

version_table = Table("schema_version", MetaData(), Column("version", Integer, nullable=False))


def _initial(ops: Operations, conn: Connection) -> None:
    from assistant.storage import conversations, feedback, messages

    for table in (conversations, messages, feedback):
        table.create(conn, checkfirst=True)


def _whatsapp(ops: Operations, conn: Connection) -> None:
    """WhatsApp channel: inbound dedupe, the reply outbox, delivery statuses and 24-hour windows."""
    from assistant.whatsapp_store import create_tables

    create_tables(conn)


def _api_keys(ops: Operations, conn: Connection) -> None:
    """API keys for partners and admins (salted hashes only)."""
    from assistant.apikeys import create_tables

    create_tables(conn)


MIGRATIONS: list[Callable[[Operations, Connection], None]] = [_initial, _whatsapp, _api_keys]


def upgrade(engine: Engine) -> int:
    """Apply every migration the database has not seen; returns the resulting version."""
    with engine.begin() as conn:
        if not inspect(conn).has_table("schema_version"):
            version_table.create(conn)
            conn.execute(version_table.insert().values(version=0))
        current = int(conn.execute(select(version_table.c.version)).scalar_one())
        ops = Operations(MigrationContext.configure(conn))
        for number, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            migration(ops, conn)
            conn.execute(version_table.update().values(version=number))
            current = number
    return current
