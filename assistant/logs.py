"""Structured logs: one JSON object per line, a request id per request, and never personal data.

Log only statuses, reasons, timings, counts and ids. Message text (the user's or the answer) never goes into a
log record: `log_turn` picks its fields from a Turn explicitly, and the formatter only copies whitelisted extras.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from assistant.pipeline import Turn

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Extras a log call may attach (`log.info("...", extra={...})`); anything else is dropped, so a careless
# `extra={"text": ...}` cannot leak a message into the logs.
ALLOWED_EXTRAS = frozenset(
    {
        "event",
        "status",
        "reason",
        "intent",
        "language",
        "channel",
        "profile",
        "composer",
        "answerability",
        "timings_ms",
        "checks_failed",
        "conversation_id",
        "method",
        "route",
        "status_code",
        "duration_ms",
        "count",
        "removed",
        "cutoff",
        "pii_kinds",
        "citations",
    }
)

access_log = logging.getLogger("assistant.access")
turn_log = logging.getLogger("assistant.turns")


def current_request_id() -> str | None:
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id and whitelisted extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key in ALLOWED_EXTRAS:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the stack, not the exception's message: that may quote what a visitor typed.
            entry["exc_type"] = record.exc_info[0].__name__
            entry["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str | int = "INFO", stream: Any = None) -> logging.Handler:
    """Route every logger (uvicorn's too) through one JSON handler on stderr; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # uvicorn sets its own level again from --log-level
        logger.disabled = False
    # Uvicorn's access lines carry the client address and the query string: ours carry neither.
    logging.getLogger("uvicorn.access").disabled = True
    return handler


def log_turn(turn: Turn) -> None:
    """One line per answered message: outcome and timings only."""
    turn_log.info(
        "turn finished",
        extra={
            "event": "turn",
            "conversation_id": turn.conversation_id,
            "channel": turn.channel,
            "profile": turn.profile,
            "status": turn.status,
            "reason": turn.reason,
            "intent": turn.intent,
            "language": turn.language,
            "composer": turn.composer,
            "answerability": round(turn.answerability, 4),
            "citations": len(turn.citations),
            "pii_kinds": sorted(set(turn.pii)),
            "checks_failed": len(turn.checks_failed),
            "timings_ms": {stage: round(ms, 2) for stage, ms in turn.timings.items()},
        },
    )


class RequestIdMiddleware:
    """Gives every HTTP request an id (the caller's X-Request-ID when sane, else a new one), echoes it in
    the response and writes one access line without the client address or query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1").strip()
                break
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            access_log.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope.get("method", ""),
                    "route": getattr(route, "path", None) or "unmatched",
                    "status_code": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            _request_id.reset(token)


def install(app: FastAPI) -> None:
    """Request ids on every request (outermost middleware, so every log line inside carries the id)."""
    app.add_middleware(RequestIdMiddleware)
