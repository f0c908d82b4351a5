"""A loopback stand-in for the platform's Directus REST API (`GET /items/<collection>[/<id>]`).

Serves payloads in the documented shape (relations already expanded as the connector's `fields`
ask for them) from tests/fixtures/directus/<collection>.json or from a dict. Implements what the
connector relies on: bearer-token check (missing token -> 403 FORBIDDEN, wrong token -> 401
INVALID_CREDENTIALS), `filter` as JSON with `_eq` rules on top-level fields, `limit` (-1 = all)
and `offset`, `meta=total_count`, `deep` must be JSON, `fields` is required. An unknown collection
or item answers 403, as Directus does. Errors use Directus' `errors` array shape.

`fail(*steps, collection=None)` queues answers for the next requests (of one collection, or of any):
a status code (500, 401, ...) or a tuple (status, headers), e.g. (429, {"Retry-After": "0"}).
Every request is recorded in `requests` (path, collection, params, auth, status).
"""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes import LoopbackServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "directus"
TOKEN = "test-static-token"

Step = tuple[int, dict[str, str]]


def load_fixture(collection: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / f"{collection}.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def fixture_items() -> dict[str, list[dict[str, Any]]]:
    """Every fixture collection (a fresh copy, safe to change in a test)."""
    return {path.stem: load_fixture(path.stem) for path in sorted(FIXTURES.glob("*.json"))}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _matches(item: dict[str, Any], rules: dict[str, Any]) -> bool:
    for field, rule in rules.items():
        if not isinstance(rule, dict):
            raise ValueError(f"filter rule for {field} must be an object")
        for op, expected in rule.items():
            if op != "_eq":
                raise ValueError(f"operator {op} not supported by the fake")
            if item.get(field) != expected:
                return False
    return True


class FakeDirectus(LoopbackServer):
    """Directus REST on 127.0.0.1, recording requests (see the module docstring)."""

    def __init__(
        self, items: dict[str, list[dict[str, Any]]] | None = None, token: str | None = TOKEN
    ) -> None:
        self.items = copy.deepcopy(items if items is not None else fixture_items())
        self.token = token
        self.requests: list[dict[str, Any]] = []
        self._steps: dict[str | None, deque[Step]] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                status, headers, payload = outer._answer(self.path, self.headers.get("Authorization"))
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)

    def fail(self, *steps: int | Step, collection: str | None = None) -> None:
        with self._lock:
            queue = self._steps.setdefault(collection, deque())
            for step in steps:
                queue.append(step if isinstance(step, tuple) else (step, {}))

    def requests_for(self, collection: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["collection"] == collection]

    # -------------------------------------------------------------------------------------------
    def _scripted(self, collection: str) -> Step | None:
        for key in (collection, None):
            queue = self._steps.get(key)
            if queue:
                return queue.popleft()
        return None

    def _answer(self, raw_path: str, auth: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        url = urlparse(raw_path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        collection = parts[1] if len(parts) >= 2 and parts[0] == "items" else ""
        with self._lock:
            step = self._scripted(collection)
            status, headers, payload = self._route(parts, collection, params, auth, step)
            self.requests.append(
                {"path": url.path, "collection": collection, "params": params, "auth": auth, "status": status}
            )
        return status, headers, payload

    def _route(
        self,
        parts: list[str],
        collection: str,
        params: dict[str, str],
        auth: str | None,
        step: Step | None,
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if step is not None:
            status, headers = step
            codes = {
                401: "INVALID_CREDENTIALS",
                403: "FORBIDDEN",
                429: "REQUESTS_EXCEEDED",
                503: "SERVICE_UNAVAILABLE",
            }
            return status, headers, _error(codes.get(status, "INTERNAL_SERVER_ERROR"), f"scripted {status}")
        if not collection or len(parts) > 3:
            return 404, {}, _error("ROUTE_NOT_FOUND", f"Route /{'/'.join(parts)} doesn't exist.")
        if self.token is not None:
            if not auth:
                return 403, {}, _error("FORBIDDEN", "You don't have permission to access this.")
            if auth != f"Bearer {self.token}":
                return 401, {}, _error("INVALID_CREDENTIALS", "Invalid user credentials.")
        if collection not in self.items:
            return 403, {}, _error("FORBIDDEN", "You don't have permission to access this.")
        items = self.items[collection]
        if len(parts) == 3:
            found = [i for i in items if str(i.get("id")) == parts[2]]
            if not found:
                return 403, {}, _error("FORBIDDEN", "You don't have permission to access this.")
            return 200, {}, {"data": found[0]}
        if not params.get("fields"):
            return 400, {}, _error("INVALID_QUERY", "the connector must always ask for fields")
        try:
            rules = json.loads(params["filter"]) if "filter" in params else {}
            if "deep" in params:
                json.loads(params["deep"])
            selected = [i for i in items if _matches(i, rules)]
            limit = int(params.get("limit", "100"))
            offset = int(params.get("offset", "0"))
        except ValueError as exc:
            return 400, {}, _error("INVALID_QUERY", str(exc))
        page = selected[offset:] if limit == -1 else selected[offset : offset + limit]
        payload: dict[str, Any] = {"data": copy.deepcopy(page)}
        if params.get("meta") == "total_count":
            payload["meta"] = {"total_count": len(selected)}
        return 200, {}, payload
