"""The assistant as one object: settings in, guarded answers out (used by the API, CLI and evals)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from assistant.config import Settings
from assistant.conversations import ConversationStore, MemoryConversations
from assistant.embeddings import Embedder, embedder_from_settings
from assistant.guards.classify import Classifier
from assistant.ingest.loaders import load_corpus
from assistant.ingest.run import IngestResult, ingest
from assistant.llm import ChatModel, chat_model_from_settings
from assistant.pipeline import STAGES, Context, HistoryItem, Stage, Turn, run
from assistant.prompts import load_prompts
from assistant.retrieval import Filters, Retriever
from assistant.store import ChromaStore, chroma_client


class Assistant:
    """Wires settings to the pipeline's services."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        llm: ChatModel | None = None,
        conversations: ConversationStore | None = None,
        stages: list[Stage] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_from_settings(settings)
        self.store = ChromaStore(chroma_client(settings), self.embedder)
        self.retriever = Retriever(self.store, settings)
        self.prompts = load_prompts(settings.prompts_dir)
        self.context = Context(
            settings=settings,
            prompts=self.prompts,
            retriever=self.retriever,
            classifier=Classifier(self.prompts, self.embedder, method=settings.classifier_method),
            llm=llm if llm is not None else chat_model_from_settings(settings),
        )
        self.conversations: ConversationStore = conversations or MemoryConversations()
        self.stages = stages or STAGES
        # Called with every finished turn (metrics, structured logs); never given message text to store.
        self.observers: list[Callable[[Turn], None]] = []

    def warm_up(self) -> None:
        """Load the index and embed the classifier's examples now, not on the first visitor's question."""
        if self.retriever.ready:
            self.context.classifier.classify("warm-up")

    def ingest(
        self, corpus_dir: Path | None = None, rebuild: bool = False, show_progress: bool = False
    ) -> IngestResult:
        documents = load_corpus(corpus_dir or self.settings.corpus_dir)
        return ingest(documents, self.store, rebuild=rebuild, show_progress=show_progress)

    def ask(
        self,
        message: str,
        conversation_id: str | None = None,
        filters: Filters | None = None,
        channel: str = "web",
        profile: str = "",
        cancelled: threading.Event | None = None,
    ) -> Turn:
        """Answer one message; a new conversation is started when no id is given.

        `cancelled`, once set, stops the work at the next stage (or LLM piece); the question is still stored.
        """
        history: list[HistoryItem] = []
        if not conversation_id:
            conversation_id = self.conversations.new(channel, profile)
        else:
            history = self.conversations.history(conversation_id)
        turn = Turn(
            raw=message,
            conversation_id=conversation_id,
            channel=channel,
            profile=profile,
            filters=filters or Filters(),
            history=history,
            cancelled=cancelled or threading.Event(),
        )
        run(turn, self.context, self.stages)
        blocked = turn.status in ("refused", "crisis")
        items = [
            HistoryItem(role="user", text=turn.text, blocked=blocked),
            HistoryItem(role="assistant", text=turn.answer, blocked=blocked),
        ]
        score = turn.answerability if "judge_answerability" in turn.timings else None
        self.conversations.append(conversation_id, items, status=turn.status, reason=turn.reason, score=score)
        for observe in list(self.observers):
            try:
                observe(turn)
            except Exception:  # noqa: BLE001 - metrics and logs never break an answer
                logging.getLogger("assistant.service").exception("turn observer failed")
        return turn
