"""Conversation history behind a small interface (in memory here; SQL storage implements the same)."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Protocol

from assistant.pipeline import HistoryItem


class ConversationStore(Protocol):
    def new(self, channel: str = "web", profile: str = "") -> str: ...

    def exists(self, conversation_id: str) -> bool: ...

    def history(self, conversation_id: str) -> list[HistoryItem]: ...

    def append(
        self,
        conversation_id: str,
        items: list[HistoryItem],
        status: str | None = None,
        reason: str | None = None,
        score: float | None = None,
    ) -> None:
        """Add turns; the answer's status, reason and retrieval score are kept where the store can."""
        ...


class MemoryConversations:
    """Bounded in-memory history, oldest conversations dropped first."""

    def __init__(self, limit: int = 10000) -> None:
        self._items: OrderedDict[str, list[HistoryItem]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def new(self, channel: str = "web", profile: str = "") -> str:
        conversation_id = uuid.uuid4().hex
        with self._lock:
            self._items[conversation_id] = []
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return conversation_id

    def exists(self, conversation_id: str) -> bool:
        return conversation_id in self._items

    def history(self, conversation_id: str) -> list[HistoryItem]:
        return list(self._items.get(conversation_id, []))

    def append(
        self,
        conversation_id: str,
        items: list[HistoryItem],
        status: str | None = None,
        reason: str | None = None,
        score: float | None = None,
    ) -> None:
        with self._lock:
            self._items.setdefault(conversation_id, []).extend(items)
