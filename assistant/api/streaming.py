"""Running an answer while the client is still there, and cutting it into pieces for streaming: the same
for every composer and endpoint."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio import to_thread
from starlette.requests import Request

T = TypeVar("T")

# nginx's status for "the client closed the connection before the response"; only ever seen in logs.
CLIENT_CLOSED_REQUEST = 499


async def while_connected(request: Request, work: Callable[[threading.Event], T]) -> T | None:
    """`work(cancelled)` in a worker thread; None when the client disconnects first.

    A thread cannot be interrupted: it is abandoned and its event is set, which the pipeline checks between
    stages and between LLM pieces (so a streaming LLM call is closed and nothing more is paid for).
    """
    cancelled = threading.Event()
    done: list[T] = []
    failed: list[BaseException] = []

    async def watch(scope: anyio.CancelScope) -> None:
        # The body has been read: the next message the server hands over is the disconnect. Waiting for it
        # costs nothing, where polling cost ~5 ms of CPU per answer under load (bench/load.py).
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancelled.set()
        scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        try:
            done.append(await to_thread.run_sync(work, cancelled, abandon_on_cancel=True))
        except Exception as exc:  # noqa: BLE001 - re-raised as it is below, not wrapped in a group
            failed.append(exc)
        group.cancel_scope.cancel()
    if failed:
        raise failed[0]
    return done[0] if done else None


def pieces(text: str, size: int = 24) -> list[str]:
    """Word-aligned pieces of about `size` characters that join back to exactly `text`."""
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) > size and current:
            out.append(current + " ")
            current = word
        else:
            current = candidate
    if current:
        out.append(current)
    return out
