"""A loopback stand-in for Meta's Graph API (messages endpoint) and builders for signed webhook payloads."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import LoopbackServer

PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
WABA_ID = "102290129340398"


class FakeGraph(LoopbackServer):
    """Answers POST /{version}/{phone_number_id}/messages like the Cloud API and records every request.

    `fail(*steps)` queues answers for the next requests: a status code (500, 400, ...) or a tuple
    (status, headers), e.g. (429, {"Retry-After": "0"}). With the queue empty it answers 200 and a new
    wamid. Failures carry a Graph-shaped error body; `error_code` per step via (status, headers, code).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.steps: deque[tuple[int, dict[str, str], int | None]] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with outer._lock:
                    status, headers, code = outer.steps.popleft() if outer.steps else (200, {}, None)
                    record = {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": json.loads(raw or b"{}"),
                        "status": status,
                    }
                    if status == 200:
                        record["wamid"] = f"wamid.FAKE{next(outer._ids):04d}"
                    outer.requests.append(record)
                if status == 200:
                    payload: dict[str, Any] = {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": record["body"].get("to"), "wa_id": record["body"].get("to")}],
                        "messages": [{"id": record["wamid"]}],
                    }
                else:
                    payload = {
                        "error": {
                            "message": "scripted failure",
                            "type": "OAuthException",
                            "code": code if code is not None else (130429 if status == 429 else 1),
                            "fbtrace_id": "AbCdEf",
                        }
                    }
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._serve(Handler)

    def fail(self, *steps: int | tuple[Any, ...]) -> None:
        for step in steps:
            if isinstance(step, int):
                self.steps.append((step, {}, None))
            else:
                status, headers, *rest = step
                self.steps.append((status, dict(headers), rest[0] if rest else None))

    def delivered(self) -> list[dict[str, Any]]:
        """The requests that were answered 200: what reached the user."""
        with self._lock:
            return [r for r in self.requests if r["status"] == 200]

    def texts(self) -> list[str]:
        return [r["body"]["text"]["body"] for r in self.delivered() if r["body"].get("type") == "text"]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Block until `count` messages were delivered (for tests of the real background worker)."""
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} deliveries, got {len(self.delivered())}")
            time.sleep(0.02)
        return self.delivered()


# --- webhook payloads shaped like Meta's documented examples ----------------------------------------------
def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def _metadata() -> dict[str, str]:
    return {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID}


def message_payload(
    wa_id: str, message_id: str, kind: str = "text", timestamp: int | None = None, **content: Any
) -> dict[str, Any]:
    """One inbound message; `content` is the type's object, e.g. text={"body": "..."}."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": message_id,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": kind,
        **content,
    }
    return _envelope(
        {
            "messaging_product": "whatsapp",
            "metadata": _metadata(),
            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": wa_id}],
            "messages": [message],
        }
    )


def text_payload(wa_id: str, message_id: str, body: str, timestamp: int | None = None) -> dict[str, Any]:
    return message_payload(wa_id, message_id, "text", timestamp, text={"body": body})


def image_payload(wa_id: str, message_id: str) -> dict[str, Any]:
    return message_payload(
        wa_id,
        message_id,
        "image",
        image={
            "caption": "Mijn diploma",
            "mime_type": "image/jpeg",
            "sha256": "IMAGE_HASH",
            "id": "1003383421387256",
        },
    )


def button_reply_payload(wa_id: str, message_id: str, title: str) -> dict[str, Any]:
    return message_payload(
        wa_id,
        message_id,
        "interactive",
        context={"from": DISPLAY_NUMBER, "id": "wamid.CONTEXT"},
        interactive={"type": "button_reply", "button_reply": {"id": "handoff", "title": title}},
    )


def status_payload(
    graph_message_id: str, status: str, wa_id: str, error: tuple[int, str] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": graph_message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id,
    }
    if status in ("sent", "delivered"):
        item["conversation"] = {"id": "CONVERSATION_ID", "origin": {"type": "service"}}
        item["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
    if error is not None:
        code, title = error
        item["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": "Message failed to send."},
            }
        ]
    return _envelope({"messaging_product": "whatsapp", "metadata": _metadata(), "statuses": [item]})


def encode(payload: dict[str, Any], ascii_only: bool = False) -> bytes:
    return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
