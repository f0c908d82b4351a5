"""The FastAPI application: chat (plain and streaming), feedback, health, widget and document pages."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import logs as request_logs
from assistant import metrics as app_metrics
from assistant import retention
from assistant.api.admin import install_admin, require_partner_key
from assistant.api.openai_compat import router as openai_router
from assistant.api.pages import router as pages_router
from assistant.api.profiles import Profile, load_profiles
from assistant.api.schemas import ChatRequest, ChatResponse, FeedbackRequest, FeedbackResponse
from assistant.api.streaming import CLIENT_CLOSED_REQUEST, pieces, while_connected
from assistant.api.whatsapp import router as whatsapp_router
from assistant.apikeys import ApiKeys
from assistant.channels.whatsapp import start_worker, stop_worker
from assistant.config import Settings, get_settings
from assistant.errors import IndexNotReadyError
from assistant.guards.normalize import normalized
from assistant.guards.scrub import scrub
from assistant.pipeline import Turn
from assistant.ratelimit import install_rate_limit, rate_limit
from assistant.retrieval import Filters
from assistant.service import Assistant
from assistant.storage import Database, FeedbackStore, SqlConversations, database_url

log = logging.getLogger("assistant.api")


class ApiError(Exception):
    """A client error with a status code and a clear message."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        self.status, self.error, self.detail = status, error, detail


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "malformed_json", [{"msg": "the request body is not valid JSON"}]
    detail = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "msg": str(e.get("msg", "")).removeprefix("Value error, "),
        }
        for e in errors
    ]
    return "invalid_request", detail


def create_app(settings: Settings | None = None, assistant: Assistant | None = None) -> FastAPI:
    """The app; tests pass their own settings and assistant."""
    settings = settings or get_settings()
    db = Database(database_url(settings))
    if assistant is None:
        assistant = Assistant(settings, conversations=SqlConversations(db))
    profiles = load_profiles(settings.profiles_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await to_thread.run_sync(assistant.warm_up)  # the first answer is as fast as the rest
        await start_worker(app)  # resumes unanswered WhatsApp messages and unsent replies
        purge_task = retention.start_purge_task(app)  # forgets conversations past the retention period
        try:
            yield
        finally:
            await retention.stop_purge_task(purge_task)
            await stop_worker(app)

    app = FastAPI(
        title="Onderwijsloket assistant",
        version="0.1.0",
        description="Cited answers about moving into Dutch education. Refusals are answers with a reason, not errors.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.assistant = assistant
    app.state.db = db
    app.state.feedback = FeedbackStore(db)
    app.state.profiles = profiles
    install_rate_limit(app, settings)  # app.state.rate_limiter: 429 with Retry-After over the limit
    install_admin(app, ApiKeys(db, settings.admin_api_key_hash))  # app.state.api_keys, /v1/admin/*
    origins = sorted({origin for profile in profiles.values() for origin in profile.allowed_origins})
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization"],
        max_age=600,
    )
    app_metrics.install(app, db, assistant)  # app.state.metrics, GET /metrics, per-route request metrics
    request_logs.install(app)  # X-Request-ID per request (outermost), JSON access lines without personal data

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        error, detail = _validation_detail(exc)
        return JSONResponse(
            {"error": error, "detail": detail}, status_code=400 if error == "malformed_json" else 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": "http_error", "detail": str(exc.detail)}, status_code=exc.status_code)

    def profile_for(request: Request, name: str | None) -> Profile:
        profile = profiles.get(name or "default")
        if profile is None:
            raise ApiError(404, "unknown_profile", f"profile {name!r} does not exist")
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin and origin != own and profile.allowed_origins and origin not in profile.allowed_origins:
            raise ApiError(403, "origin_not_allowed", f"origin {origin} may not use profile {profile.id!r}")
        if profile.require_key:
            require_partner_key(request, profile.id)  # 401/403 without a partner key for this profile
        return profile

    def filters_for(body: ChatRequest, profile: Profile) -> Filters:
        requested = body.filters
        sectors = list(requested.sectors) if requested else []
        roles = list(requested.roles) if requested else []
        # A partner's own filters always apply; a request may narrow them, never widen them.
        if profile.filters.sectors:
            sectors = [s for s in sectors if s in profile.filters.sectors] or list(profile.filters.sectors)
        if profile.filters.roles:
            roles = [r for r in roles if r in profile.filters.roles] or list(profile.filters.roles)
        return Filters(sectors=sectors, roles=roles)

    def answer(body: ChatRequest, request: Request, cancelled: threading.Event | None = None) -> Turn:
        profile = profile_for(request, body.profile)
        if body.conversation_id and not assistant.conversations.exists(body.conversation_id):
            raise ApiError(
                404, "unknown_conversation", f"conversation {body.conversation_id!r} does not exist"
            )
        try:
            turn = assistant.ask(
                body.message,
                conversation_id=body.conversation_id,
                filters=filters_for(body, profile),
                channel=body.channel,
                profile=profile.id,
                cancelled=cancelled,
            )
        except IndexNotReadyError as exc:
            raise ApiError(503, "index_not_ready", str(exc)) from exc
        except Exception:  # noqa: BLE001 - a visitor gets an honest fallback, never a 500
            log.exception("pipeline failed")
            language = "en" if body.message and _english(body.message) else "nl"
            turn = Turn(raw="", conversation_id=body.conversation_id or "", language=language)
            turn.finish("no_answer", "error", assistant.prompts.response("fallback_error", language))
            app.state.metrics.pipeline_failed(turn)
        if profile.handoff_url:
            for referral in turn.referrals:
                if referral.kind == "adviseur":
                    referral.url = profile.handoff_url
        return turn

    app.state.answer = answer  # the OpenAI-compatible facade answers through the same path

    @app.post(
        "/v1/chat", response_model=ChatResponse, tags=["chat"], dependencies=[Depends(rate_limit("chat"))]
    )
    async def chat(body: ChatRequest, request: Request) -> ChatResponse | Response:
        """Answer one message with citations and referrals."""
        turn = await while_connected(request, lambda cancelled: answer(body, request, cancelled))
        if turn is None:  # the client left: the question is stored as cancelled, nobody reads a reply
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        return ChatResponse.from_turn(turn)

    @app.post("/v1/chat/stream", tags=["chat"], dependencies=[Depends(rate_limit("chat"))])
    async def chat_stream(body: ChatRequest, request: Request) -> EventSourceResponse:
        """The same answer as Server-Sent Events: meta, delta..., citations, referrals, done (or error)."""
        profile_for(request, body.profile)
        if body.conversation_id and not assistant.conversations.exists(body.conversation_id):
            raise ApiError(
                404, "unknown_conversation", f"conversation {body.conversation_id!r} does not exist"
            )

        async def events() -> AsyncIterator[dict[str, str]]:
            # When the visitor closes the stream, sse-starlette cancels this generator; the thread cannot be
            # interrupted, so it is abandoned and told to stop (it also stops a streaming LLM call).
            cancelled = threading.Event()
            finished = False
            try:
                turn = await to_thread.run_sync(answer, body, request, cancelled, abandon_on_cancel=True)
                finished = True
            except ApiError as exc:
                finished = True
                yield {"event": "error", "data": json.dumps({"error": exc.error, "detail": exc.detail})}
                return
            finally:
                if not finished:
                    cancelled.set()
            yield {
                "event": "meta",
                "data": json.dumps({"conversation_id": turn.conversation_id, "language": turn.language}),
            }
            for piece in pieces(turn.answer):
                if await request.is_disconnected():
                    return  # the visitor left: stop the work
                yield {"event": "delta", "data": json.dumps({"text": piece}, ensure_ascii=False)}
                await asyncio.sleep(0)
            yield {
                "event": "citations",
                "data": json.dumps([c.model_dump(mode="json") for c in turn.citations], ensure_ascii=False),
            }
            yield {
                "event": "referrals",
                "data": json.dumps([r.model_dump(mode="json") for r in turn.referrals], ensure_ascii=False),
            }
            yield {"event": "done", "data": json.dumps({"status": turn.status, "reason": turn.reason})}

        return EventSourceResponse(events(), ping=15)

    @app.post(
        "/v1/feedback",
        response_model=FeedbackResponse,
        status_code=201,
        tags=["feedback"],
        dependencies=[Depends(rate_limit("feedback"))],
    )
    async def post_feedback(body: FeedbackRequest) -> FeedbackResponse:
        """Store a thumbs up or down (with an optional, scrubbed comment)."""
        if not assistant.conversations.exists(body.conversation_id):
            raise ApiError(
                404, "unknown_conversation", f"conversation {body.conversation_id!r} does not exist"
            )
        comment = scrub(normalized(body.comment)).text if body.comment else None
        feedback_id = await to_thread.run_sync(
            app.state.feedback.add, body.conversation_id, body.message_index, body.rating, comment
        )
        return FeedbackResponse(id=feedback_id)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """The index is loaded and answers can be given."""
        ready = await to_thread.run_sync(lambda: assistant.retriever.ready)
        body = {"status": "ready" if ready else "not_ready", "chunks": len(assistant.retriever.index.chunks)}
        return JSONResponse(body, status_code=200 if ready else 503)

    app.include_router(pages_router)
    app.include_router(whatsapp_router)
    app.include_router(openai_router)
    return app


def _english(text: str) -> bool:
    from assistant.guards.language import detect_language

    return detect_language(text) == "en"
