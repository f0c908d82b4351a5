"""API keys for partners and admins, hashed at rest.

A key looks like `olk_<id>_<secret>`: the id (12 hex characters) finds the row, the secret (32 random bytes)
proves possession. The database keeps only `sha256:<salt>:<HMAC-SHA256(salt, key)>` with a fresh 16-byte salt
per key; the plain key is shown once, by `create_key`, and never stored or logged. A fast hash is right
here: the keys carry 256 bits of randomness, so there is nothing to brute-force that a slow KDF would
protect (unlike passwords), and verifying stays cheap on every partner request.

Scopes: `admin` (the admin endpoints, and everything else), `partner` (every profile with
`require_key: true`) and `partner:<profile>` (that one profile).

Python API (no CLI needed):

    keys = ApiKeys(Database(database_url(get_settings())))
    plain = keys.create_key("regio-mbo", "partner:regio-mbo-demo")   # show once, hand to the partner
    keys.verify(plain, "partner:regio-mbo-demo")                    # True
    keys.revoke(key_id)                                             # the id is the middle part

`ASSISTANT_ADMIN_API_KEY_HASH` may hold one extra admin key as `hash_key(plain)` (see `bootstrap_admin_key`),
for a first admin before any key is in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select, update
from sqlalchemy.engine import Connection

from assistant.storage import Database

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # the public part of the key, to find the row
    Column("name", String(100), nullable=False),  # who holds it (a partner, a colleague)
    Column("scope", String(100), nullable=False),  # admin | partner | partner:<profile>
    Column("key_hash", String(200), nullable=False),  # sha256:<salt hex>:<hmac hex>; never the key
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

PREFIX = "olk"
_SCOPE = re.compile(r"^(admin|partner|partner:[A-Za-z0-9_.-]{1,64})$")
_DUMMY_HASH = "sha256:" + "00" * 16 + ":" + "00" * 32


def create_tables(conn: Connection) -> None:
    """Called by the migration that introduced API keys."""
    metadata.create_all(conn, tables=[api_keys], checkfirst=True)


def hash_key(plain: str) -> str:
    """`sha256:<salt>:<digest>` with a fresh random salt; also the format of ASSISTANT_ADMIN_API_KEY_HASH.

    No `$` in it: .env files and docker compose may expand `$names`.
    """
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, plain.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256:{salt.hex()}:{digest}"


def check_key(plain: str, stored: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    try:
        algorithm, salt_hex, digest = stored.strip().split(":")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if algorithm != "sha256":
        return False
    expected = hmac.new(salt, plain.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest.lower())


def bootstrap_admin_key() -> tuple[str, str]:
    """A new admin key and its hash for ASSISTANT_ADMIN_API_KEY_HASH: `plain, hashed = bootstrap_admin_key()`."""
    plain = f"{PREFIX}_admin_{secrets.token_urlsafe(32)}"
    return plain, hash_key(plain)


def scope_allows(granted: str, required: str) -> bool:
    """admin allows everything; `partner` allows every `partner:<profile>`; otherwise an exact match."""
    if granted == "admin" or granted == required:
        return True
    return granted == "partner" and required.startswith("partner:")


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    scope: str


class ApiKeys:
    """Creation, verification and revocation of keys in the app's database."""

    def __init__(self, db: Database, admin_key_hash: str = "") -> None:
        self.engine = db.engine
        self.admin_key_hash = admin_key_hash

    def create_key(self, name: str, scope: str) -> str:
        """A new key; the plain key is returned once and only its salted hash is stored."""
        if not _SCOPE.match(scope):
            raise ValueError(f"unknown scope {scope!r}: use admin, partner or partner:<profile>")
        if not name.strip() or len(name) > 100:
            raise ValueError("a key needs a name of 1 to 100 characters")
        key_id = secrets.token_hex(6)
        plain = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    name=name.strip(),
                    scope=scope,
                    key_hash=hash_key(plain),
                    created_at=datetime.now(UTC),
                )
            )
        return plain

    def identify(self, plain_key: str) -> KeyInfo | None:
        """The key's id, name and scope when it is valid and not revoked, else None."""
        if not plain_key:
            return None
        if self.admin_key_hash and check_key(plain_key, self.admin_key_hash):
            return KeyInfo(id="settings", name="ASSISTANT_ADMIN_API_KEY_HASH", scope="admin")
        parts = plain_key.split("_", 2)
        row = None
        if len(parts) == 3 and parts[0] == PREFIX and len(parts[1]) <= 16:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(api_keys).where(api_keys.c.id == parts[1], api_keys.c.revoked_at.is_(None))
                ).first()
        # Hash even when no row matched, so the response time does not tell which ids exist.
        valid = check_key(plain_key, row.key_hash if row is not None else _DUMMY_HASH)
        if row is None or not valid:
            return None
        return KeyInfo(id=row.id, name=row.name, scope=row.scope)

    def verify(self, plain_key: str, scope: str) -> bool:
        """True when the key is valid, not revoked, and its scope covers `scope`."""
        info = self.identify(plain_key)
        return info is not None and scope_allows(info.scope, scope)

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by its id (the middle part of the key); False when there was no such live key."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return bool(result.rowcount)

    def all(self) -> list[dict[str, Any]]:
        """Every key without its hash: id, name, scope, created_at, revoked_at."""
        columns = [c for c in api_keys.c if c.name != "key_hash"]
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(*columns).order_by(api_keys.c.created_at))]


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or an empty string."""
    if not header:
        return ""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
