"""An OpenAI-compatible facade: `POST /v1/chat/completions` (plain and streaming) and `GET /v1/models`.

Any OpenAI client can talk to the assistant (`OpenAI(base_url=".../v1", api_key=...)`); the answer comes
from the same guarded pipeline as `/v1/chat`, so refusals are ordinary completions with a refusal text.

What is used from the request:
- Only the LAST `user` message is answered (its text parts, when content is a list of parts).
- `system` and `developer` messages are IGNORED: a client cannot change the assistant's rules, scope or
  tone through them. Earlier `user`/`assistant` messages are ignored too: the history comes from our own
  conversation store, never from client-supplied text (which could put words in the assistant's mouth).
- The conversation: `conversation_id` (an extra body field, e.g. `extra_body={"conversation_id": ...}`) when
  given (it must exist); else `user` maps to a stable conversation of its own (derived from a salted hash of
  `user`, the profile and the presented API key, so clients with different keys never share one); else a
  fresh conversation. The id is returned in the extra `onderwijsloket.conversation_id` field.
- Extra body fields `profile` and `filters` work as in `/v1/chat`; `model`, `temperature`, `max_tokens`,
  `tools` and other sampling options are accepted and ignored. `n` above 1 is refused.

The response is a standard `chat.completion` (model `onderwijsloket-assistant`) whose content is the answer
with a numbered source list ("Bronnen:" / "Sources:") appended, `finish_reason` "stop" and rough token
counts (characters / 4), plus a top-level `onderwijsloket` object: status, reason, citations, referrals,
conversation_id and language. Streaming sends `chat.completion.chunk` events (`data: {...}`) that add up to
the same content, the `onderwijsloket` object on the final chunk, and `data: [DONE]`.

Errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: 400 for malformed JSON or no
user message, 422 for invalid fields, 401/403 for keys, 404 for unknown profiles or conversations, 429 (with
Retry-After, code `rate_limited`) when the client is over its limit, 503 when the index is not ready.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.api.admin import AuthError, require_partner_key
from assistant.api.schemas import ChatRequest, FiltersIn
from assistant.api.streaming import CLIENT_CLOSED_REQUEST, pieces, while_connected
from assistant.pipeline import Citation, Turn
from assistant.ratelimit import RateLimited, rate_limit

MODEL = "onderwijsloket-assistant"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def error_response(
    status: int, code: str, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _from_validation(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return error_response(422, "invalid_request", f"{param}: {message}" if param else message, param)


class OpenAIRoute(APIRoute):
    """Renders every error of these routes (validation, keys, limits, API errors) in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            from assistant.api.app import ApiError  # app.py imports this module

            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _from_validation(exc)
            except OpenAIError as exc:
                return error_response(exc.status, exc.code, exc.message, exc.param)
            except RateLimited as exc:
                return error_response(
                    429, "rate_limited", exc.detail, headers={"Retry-After": str(exc.retry_after)}
                )
            except AuthError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                return error_response(exc.status, exc.error, exc.detail, headers=headers)
            except ApiError as exc:
                return error_response(exc.status, exc.error, exc.detail)

        return route


router = APIRouter(route_class=OpenAIRoute, tags=["openai"])


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=32)
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    """OpenAI's chat completion request; unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(default=None, max_length=200)
    messages: list[CompletionMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int | None = None
    user: str | None = Field(default=None, max_length=256)
    conversation_id: str | None = Field(default=None, max_length=64, description="extra: continue this one")
    profile: str | None = Field(default=None, max_length=64, description="extra: a partner profile")
    filters: FiltersIn | None = Field(default=None, description="extra: sectors and roles")


def last_user_text(messages: list[CompletionMessage]) -> str:
    """The text of the last user message; system/developer/assistant/tool messages never reach the pipeline."""
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        parts = [
            str(part.get("text", ""))
            for part in message.content or []
            if part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
        if not parts:
            raise OpenAIError(400, "no_text", "the last user message has no text", "messages")
        return "\n".join(parts)
    raise OpenAIError(400, "no_user_message", "the request has no user message", "messages")


def _user_conversation(request: Request, user: str, profile: str) -> str:
    """A stable conversation per (API key, profile, user): nobody continues another client's conversation."""
    salt = request.app.state.settings.hash_salt
    auth = request.headers.get("authorization", "")
    digest = hashlib.sha256(f"{salt}\x00openai\x00{auth}\x00{profile}\x00{user}".encode()).hexdigest()
    return "oai" + digest[:45]


def _ensure_conversation(request: Request, conversation_id: str, profile: str) -> None:
    conversations = request.app.state.assistant.conversations
    if conversations.exists(conversation_id):
        return
    ensure = getattr(conversations, "ensure", None)
    if callable(ensure):  # SQL conversations create a row with our id
        ensure(conversation_id, "api", profile)
    else:  # the in-memory store creates a conversation on its first append
        conversations.append(conversation_id, [])


def absolute(url: str, base_url: str) -> str:
    """Our own pages have site-relative links; an API client needs them absolute."""
    if url.startswith("/") and not url.startswith("//"):
        return base_url.rstrip("/") + url
    return url


def sources_block(citations: list[Citation], language: str, base_url: str) -> str:
    if not citations:
        return ""
    lines = ["Sources:" if language == "en" else "Bronnen:"]
    for citation in sorted(citations, key=lambda c: c.n):
        lines.append(f"[{citation.n}] {citation.title} - {absolute(citation.url, base_url)}")
    return "\n".join(lines)


def completion_content(turn: Turn, base_url: str) -> str:
    """The answer with its numbered sources appended (the same text, streamed or not)."""
    sources = sources_block(turn.citations, turn.language, base_url)
    return f"{turn.answer.rstrip()}\n\n{sources}" if sources else turn.answer


def rough_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def extra_field(turn: Turn) -> dict[str, Any]:
    return {
        "status": turn.status,
        "reason": turn.reason,
        "citations": [c.model_dump(mode="json") for c in turn.citations],
        "referrals": [r.model_dump(mode="json") for r in turn.referrals],
        "conversation_id": turn.conversation_id,
        "language": turn.language,
    }


def _site_base(request: Request) -> str:
    return request.app.state.settings.site_url or str(request.base_url)


@router.post(
    "/v1/chat/completions",
    dependencies=[Depends(rate_limit("chat"))],
    response_model=None,
    summary="OpenAI-compatible chat completion (system messages are ignored)",
)
async def chat_completions(body: CompletionRequest, request: Request) -> Response:
    """Answers the last user message with the guarded pipeline; `stream: true` for SSE chunks."""
    if body.n is not None and body.n != 1:
        raise OpenAIError(400, "unsupported", "only n=1 is supported", "n")
    message = last_user_text(body.messages)
    profile = body.profile or "default"
    conversation_id = body.conversation_id
    if not conversation_id and body.user:
        conversation_id = _user_conversation(request, body.user, profile)
    try:
        chat = ChatRequest(
            message=message,
            conversation_id=conversation_id,
            profile=body.profile,
            filters=body.filters,
            channel="api",
        )
    except ValidationError as exc:
        errors = exc.errors()
        msg = str(errors[0].get("msg", "invalid message")).removeprefix("Value error, ") if errors else ""
        raise OpenAIError(422, "invalid_request", f"messages: {msg}", "messages") from exc
    known = request.app.state.profiles.get(profile)
    if conversation_id and not body.conversation_id and known is not None:
        # Create the user's conversation only for a request that may use the profile at all.
        if known.require_key:
            await to_thread.run_sync(require_partner_key, request, profile)
        await to_thread.run_sync(_ensure_conversation, request, conversation_id, profile)
    answer = request.app.state.answer
    turn: Turn | None = await while_connected(request, lambda cancelled: answer(chat, request, cancelled))
    if turn is None:  # the client left before the answer was ready; the question is stored as cancelled
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    content = completion_content(turn, _site_base(request))
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    usage = {
        "prompt_tokens": rough_tokens(message),
        "completion_tokens": rough_tokens(content),
        "total_tokens": rough_tokens(message) + rough_tokens(content),
    }
    if not body.stream:
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                "onderwijsloket": extra_field(turn),
            }
        )
    include_usage = bool((body.stream_options or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces(content):
            if await request.is_disconnected():
                return
            yield chunk({"content": piece})
        yield chunk({}, "stop", onderwijsloket=extra_field(turn))
        if include_usage:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL,
                "choices": [],
                "usage": usage,
            }
            yield f"data: {json.dumps(data)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/v1/models", summary="The one model this facade serves")
async def list_models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "onderwijsloket"}],
    }
