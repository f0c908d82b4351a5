"""Prometheus metrics at GET /metrics: HTTP traffic, pipeline stages, outcomes, LLM use, the WhatsApp outbox.

Every app gets its own CollectorRegistry (tests create many apps), so nothing here touches the default
registry except to re-export the WhatsApp channel's own counter.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import column as sql_column
from sqlalchemy import func, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

    from assistant.pipeline import Turn
    from assistant.service import Assistant
    from assistant.storage import Database

log = logging.getLogger("assistant.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SCORE_BUCKETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.92, 0.95, 1.0)
OUTBOX_WAITING = ("pending", "sending")


class Metrics:
    """The app's metrics and the ways to feed them."""

    def __init__(self, db: Database | None = None, llm: Any = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        hooks = getattr(llm, "usage_hooks", None)
        if isinstance(hooks, list):
            hooks.append(self.count_tokens)
        r = self.registry
        self.requests = Counter(
            "assistant_http_requests_total",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "assistant_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "assistant_pipeline_stage_duration_seconds",
            "Time spent in each pipeline stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "assistant_answers_total",
            "Finished turns by status, reason and channel",
            ["status", "reason", "channel"],
            registry=r,
        )
        self.score = Histogram(
            "assistant_answerability_score",
            "Retrieval (answerability) score of turns that reached retrieval",
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.compositions = Counter(
            "assistant_compositions_total",
            "Answers composed, by composer (llm, extractive, extractive-fallback)",
            ["composer"],
            registry=r,
        )
        self.llm_calls = Counter("assistant_llm_calls_total", "LLM calls made to compose answers", registry=r)
        self.llm_fallbacks = Counter(
            "assistant_llm_fallbacks_total",
            "Turns where the LLM answer was replaced by the extractive one (errors or failed checks)",
            registry=r,
        )
        self.llm_errors = Counter(
            "assistant_llm_errors_total", "LLM calls that failed (timeouts, HTTP errors)", registry=r
        )
        self.check_failures = Counter(
            "assistant_output_check_failures_total",
            "Composed answers rejected by an output check",
            registry=r,
        )
        self.tokens = Counter(
            "assistant_llm_tokens_total",
            "LLM tokens as reported by the endpoint, streamed replies included",
            ["kind"],
            registry=r,
        )
        self.errors = Counter(
            "assistant_errors_total",
            "Errors by kind: pipeline (a visitor got the fallback answer) or http (a 5xx response)",
            ["kind"],
            registry=r,
        )
        if db is not None:
            outbox = Gauge(
                "assistant_whatsapp_outbox_depth",
                "WhatsApp reply parts waiting to be sent (pending or sending)",
                registry=r,
            )
            outbox.set_function(outbox_depth_counter(db))
        _include_channel_counters(r)

    # --- feeding ---------------------------------------------------------------------------------------
    def observe_turn(self, turn: Turn) -> None:
        for stage, ms in turn.timings.items():
            self.stage_latency.labels(stage).observe(ms / 1000)
        self.answers.labels(turn.status, turn.reason or "", turn.channel or "").inc()
        if "judge_answerability" in turn.timings:
            self.score.observe(turn.answerability)
        if turn.composer:
            self.compositions.labels(turn.composer).inc()
        compose_failures = list(turn.checks_failed)
        if turn.reason == "check_failed" and compose_failures:
            compose_failures.pop()  # the final output check, not an LLM attempt
        if turn.composer in ("llm", "extractive-fallback"):
            calls = len(compose_failures) + (1 if turn.composer == "llm" else 0)
            self.llm_calls.inc(calls)
            errors = compose_failures.count("llm_error")
            self.llm_errors.inc(errors)
            self.check_failures.inc(len(compose_failures) - errors)
        if turn.composer == "extractive-fallback":
            self.llm_fallbacks.inc()
        if turn.reason == "check_failed":
            self.check_failures.inc()

    def pipeline_failed(self, turn: Turn) -> None:
        """The pipeline raised: the visitor got the fallback answer in `turn`."""
        self.errors.labels("pipeline").inc()
        self.observe_turn(turn)

    def count_tokens(self, usage: Mapping[str, int]) -> None:
        """Token counts of one LLM reply, streamed or not, as the endpoint reported them."""
        for kind in ("prompt_tokens", "completion_tokens"):
            value = usage.get(kind)
            if isinstance(value, int) and value > 0:
                self.tokens.labels(kind.removesuffix("_tokens")).inc(value)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_latency.labels(method, route).observe(seconds)
        if status >= 500:
            self.errors.labels("http").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observer(self) -> Callable[[Turn], None]:
        """A turn observer for Assistant.observers that holds this object weakly: an assistant shared by
        several apps (as in tests) does not keep old apps' metrics alive."""
        return _TurnObserver(self)


class _TurnObserver:
    def __init__(self, metrics: Metrics) -> None:
        self._ref = weakref.ref(metrics)

    @property
    def dead(self) -> bool:
        return self._ref() is None

    def __call__(self, turn: Turn) -> None:
        metrics = self._ref()
        if metrics is not None:
            metrics.observe_turn(turn)


def outbox_depth_counter(db: Database) -> Callable[[], float]:
    """Counts waiting rows in whatsapp_outbox; 0 when the table does not exist (yet) or the query fails."""
    outbox = table("whatsapp_outbox", sql_column("status"))

    def depth() -> float:
        try:
            with db.engine.connect() as conn:
                if not inspect(conn).has_table("whatsapp_outbox"):
                    return 0.0
                query = select(func.count()).select_from(outbox).where(outbox.c.status.in_(OUTBOX_WAITING))
                return float(conn.execute(query).scalar_one())
        except SQLAlchemyError:
            log.warning("could not count the WhatsApp outbox", exc_info=True)
            return 0.0

    return depth


def _include_channel_counters(registry: CollectorRegistry) -> None:
    """Metrics other modules keep on the default registry (the WhatsApp channel's window drops)."""
    try:
        from assistant.channels import whatsapp
    except ImportError:  # pragma: no cover - the channel is part of the package
        return
    for name in ("WINDOW_DROPS",):
        collector = getattr(whatsapp, name, None)
        if collector is not None:
            registry.register(collector)


class MetricsMiddleware:
    """Counts requests and their latency by route template (never the raw path: no ids in labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(
                scope.get("method", ""), route, status, time.perf_counter() - started
            )


def install(app: FastAPI, db: Database, assistant: Assistant) -> Metrics:
    """Metrics for this app: the middleware, the turn observer and GET /metrics."""
    from fastapi import Response

    metrics = Metrics(db, llm=assistant.context.llm)
    app.state.metrics = metrics
    observers: list[Callable[[Turn], None]] | None = getattr(assistant, "observers", None)
    if observers is not None:
        _forget_dead(observers)
        observers.append(metrics.observer())
        from assistant.logs import log_turn

        if log_turn not in observers:
            observers.append(log_turn)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus text format."""
        from anyio import to_thread

        body = await to_thread.run_sync(metrics.render)  # the outbox gauge queries the database
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics


def _forget_dead(observers: list[Callable[[Turn], None]]) -> None:
    """Drop observers of metrics objects that no longer exist."""
    observers[:] = [o for o in observers if not getattr(o, "dead", False)]
