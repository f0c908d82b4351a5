"""The WhatsApp Cloud API webhook: Meta's verification handshake and signed message deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from assistant.channels.whatsapp import parse_webhook, worker_for

log = logging.getLogger("assistant.api.whatsapp")

router = APIRouter(prefix="/whatsapp", tags=["whatsapp"])

MAX_BODY = 1024 * 1024  # Meta's deliveries are a few kB; anything near this is not from Meta


def valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is 'sha256=' + the hex HMAC-SHA256 of the raw body, keyed with the app secret."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # Starlette decodes headers as latin-1, so this never fails; compare_digest is constant-time.
    return hmac.compare_digest(expected.encode("ascii"), header[7:].strip().lower().encode("latin-1"))


async def _raw_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, "request body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, "request body too large")
    return bytes(body)


@router.get("/webhook", response_class=PlainTextResponse)
async def verify(request: Request) -> PlainTextResponse:
    """Meta's subscription handshake: echo hub.challenge when hub.verify_token is ours."""
    expected = request.app.state.settings.whatsapp_verify_token
    params = request.query_params
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if (
        params.get("hub.mode") == "subscribe"
        and expected
        and token is not None
        and challenge is not None
        and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
    ):
        return PlainTextResponse(challenge)
    log.warning("WhatsApp webhook verification refused")
    raise HTTPException(403, "verification failed")


@router.post("/webhook")
async def receive(request: Request) -> JSONResponse:
    """Verify the signature over the raw bytes, store what arrived, answer 200; the worker does the rest."""
    settings = request.app.state.settings
    body = await _raw_body(request)
    if not valid_signature(settings.whatsapp_app_secret, body, request.headers.get("x-hub-signature-256")):
        if not settings.whatsapp_app_secret:
            log.error("WhatsApp app secret is not configured: every delivery is refused")
        raise HTTPException(401, "invalid or missing X-Hub-Signature-256")
    try:
        payload = json.loads(body)
        parsed = parse_webhook(payload, settings.hash_salt, settings.whatsapp_phone_number_id)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HTTPException(400, f"malformed webhook body: {exc.__class__.__name__}") from exc
    worker = worker_for(request.app)
    counts = await to_thread.run_sync(worker.store_webhook, parsed, str(request.base_url))
    if counts["received"]:
        worker.wake()
    return JSONResponse({"status": "ok", **counts})
