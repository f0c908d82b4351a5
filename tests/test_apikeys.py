"""API keys: hashed at rest, scopes, revocation, the admin feedback export and partner-only profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from assistant.api.app import create_app
from assistant.apikeys import ApiKeys, api_keys, bootstrap_admin_key, check_key, hash_key
from assistant.migrations import MIGRATIONS, version_table
from assistant.service import Assistant
from assistant.storage import Database
from tests.conftest import ROOT


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'keys.db'}")


def test_the_migration_creates_the_table(db: Database) -> None:
    with db.engine.connect() as conn:
        assert inspect(conn).has_table("api_keys")
        assert conn.execute(select(version_table.c.version)).scalar_one() == len(MIGRATIONS)


def test_a_key_verifies_for_its_scope_only(db: Database) -> None:
    keys = ApiKeys(db)
    admin = keys.create_key("ops", "admin")
    partner = keys.create_key("regio", "partner:regio-mbo-demo")
    any_partner = keys.create_key("federation", "partner")
    assert admin.startswith("olk_") and admin != keys.create_key("ops", "admin")
    assert keys.verify(admin, "admin") and keys.verify(admin, "partner:regio-mbo-demo")
    assert keys.verify(partner, "partner:regio-mbo-demo")
    assert not keys.verify(partner, "admin") and not keys.verify(partner, "partner:other")
    assert keys.verify(any_partner, "partner:other") and not keys.verify(any_partner, "admin")
    for wrong in ("", "olk", admin[:-1], admin + "x", admin.replace("olk_", "xyz_"), "olk_nope_secret"):
        assert not keys.verify(wrong, "admin"), wrong


def test_revoked_keys_stop_working(db: Database) -> None:
    keys = ApiKeys(db)
    plain = keys.create_key("ops", "admin")
    key_id = plain.split("_")[1]
    assert keys.revoke(key_id) and not keys.verify(plain, "admin")
    assert not keys.revoke(key_id)  # already revoked
    listed = keys.all()
    assert listed[0]["id"] == key_id and listed[0]["revoked_at"] is not None
    assert "key_hash" not in listed[0]


def test_bad_scopes_and_names_are_refused(db: Database) -> None:
    keys = ApiKeys(db)
    for scope in ("root", "partner:", "partner:a b", "ADMIN", ""):
        with pytest.raises(ValueError):
            keys.create_key("x", scope)
    with pytest.raises(ValueError):
        keys.create_key("  ", "admin")


def test_keys_are_hashed_at_rest(db: Database, tmp_path: Path) -> None:
    keys = ApiKeys(db)
    plain = [keys.create_key(f"partner-{i}", "partner") for i in range(3)]
    with db.engine.connect() as conn:
        stored = [row.key_hash for row in conn.execute(select(api_keys))]
    assert all(h.startswith("sha256:") for h in stored)
    assert len({h.split(":")[1] for h in stored}) == 3  # a salt per key
    db.engine.dispose()  # flush the WAL into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys.db"))
    assert all(h.encode() in raw for h in stored)  # the rows are in the bytes we search
    for key in plain:
        secret = key.split("_", 2)[2]
        assert key.encode() not in raw and secret.encode() not in raw


def test_hash_helpers_and_the_settings_admin_key(db: Database) -> None:
    stored = hash_key("s3cret-key")
    assert check_key("s3cret-key", stored) and not check_key("s3cret-kez", stored)
    assert hash_key("s3cret-key") != stored  # salted
    assert not check_key("x", "garbage") and not check_key("x", "md5:00:00")
    plain, hashed = bootstrap_admin_key()
    keys = ApiKeys(db, admin_key_hash=hashed)
    assert keys.verify(plain, "admin") and not keys.verify(plain + "x", "admin")


# --- over HTTP -------------------------------------------------------------------------------------
@pytest.fixture
def client(fixture_assistant: Assistant, tmp_path: Path) -> TestClient:
    profiles = yaml.safe_load((ROOT / "profiles.yaml").read_text(encoding="utf-8"))
    profiles["partner-api"] = {"name": "Partner API (test)", "require_key": True}
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    settings = fixture_assistant.settings.model_copy(
        update={"data_dir": tmp_path / "appdata", "profiles_file": tmp_path / "profiles.yaml"}
    )
    return TestClient(create_app(settings, assistant=fixture_assistant), raise_server_exceptions=False)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_feedback_export_needs_an_admin_key(client: TestClient) -> None:
    keys: ApiKeys = client.app.state.api_keys  # type: ignore[attr-defined]
    admin, partner = keys.create_key("ops", "admin"), keys.create_key("regio", "partner")
    conversation = client.post("/v1/chat", json={"message": "Hallo!"}).json()["conversation_id"]
    stored = client.post(
        "/v1/feedback",
        json={
            "conversation_id": conversation,
            "message_index": 1,
            "rating": "down",
            "comment": "mail a@b.nl",
        },
    )
    assert stored.status_code == 201

    missing = client.get("/v1/admin/feedback")
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/admin/feedback", headers=bearer("olk_123_nope")).status_code == 401
    assert client.get("/v1/admin/feedback", headers={"Authorization": f"Basic {admin}"}).status_code == 401
    forbidden = client.get("/v1/admin/feedback", headers=bearer(partner))
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"

    export = client.get("/v1/admin/feedback", headers=bearer(admin))
    assert export.status_code == 200
    body = export.json()
    assert body["count"] == 1
    item = body["feedback"][0]
    assert item["conversation_id"] == conversation and item["rating"] == "down"
    assert "a@b.nl" not in item["comment"] and item["created_at"].startswith("20")


def test_a_require_key_profile_needs_a_partner_key(client: TestClient) -> None:
    keys: ApiKeys = client.app.state.api_keys  # type: ignore[attr-defined]
    own = keys.create_key("partner", "partner:partner-api")
    other = keys.create_key("regio", "partner:regio-mbo-demo")
    admin = keys.create_key("ops", "admin")
    question = {"message": "Hoe lang duurt de deeltijdpabo?", "profile": "partner-api"}

    missing = client.post("/v1/chat", json=question)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert client.post("/v1/chat/stream", json=question).status_code == 401
    assert client.post("/v1/chat", json=question, headers=bearer("olk_x_y")).status_code == 401
    assert client.post("/v1/chat", json=question, headers=bearer(other)).status_code == 403
    ok = client.post("/v1/chat", json=question, headers=bearer(own))
    assert ok.status_code == 200 and ok.json()["status"] == "answered"
    assert client.post("/v1/chat", json=question, headers=bearer(admin)).status_code == 200
    with client.stream("POST", "/v1/chat/stream", json=question, headers=bearer(own)) as streamed:
        assert streamed.status_code == 200 and "event: done" in "".join(streamed.iter_text())
    # profiles without require_key stay open
    assert client.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200
    keys.revoke(own.split("_")[1])
    assert client.post("/v1/chat", json=question, headers=bearer(own)).status_code == 401
