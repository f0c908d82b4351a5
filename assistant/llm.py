"""The ChatModel protocol and its client for any OpenAI-compatible chat endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypedDict

import httpx

from assistant.config import Settings
from assistant.errors import UpstreamError


class Message(TypedDict):
    role: str
    content: str


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int


UsageHook = Callable[[Usage], None]


class ChatModel(Protocol):
    """Completes a conversation, whole or as a stream of text pieces."""

    def complete(self, messages: Sequence[Message], json_mode: bool = False) -> str: ...

    def stream(self, messages: Sequence[Message]) -> Iterator[str]: ...


class OpenAICompatibleChatModel:
    """`POST {base_url}/chat/completions`, as served by vLLM, Ollama, TGI or a cloud provider."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 20.0,
        temperature: float = 0.1,
        stream_usage: bool = True,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.model = model
        self.temperature = temperature
        self.stream_usage = stream_usage
        # Called with the token counts of every reply that reports them (metrics); threads share the client,
        # so usage is handed on per reply rather than kept in an attribute.
        self.usage_hooks: list[UsageHook] = []

    def _report(self, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        counts = Usage()
        for kind in ("prompt_tokens", "completion_tokens"):
            value = usage.get(kind)
            if isinstance(value, int) and value >= 0:
                counts[kind] = value  # type: ignore[literal-required]
        if counts:
            for hook in list(self.usage_hooks):
                hook(counts)

    def _payload(
        self, messages: Sequence[Message], stream: bool, json_mode: bool = False
    ) -> dict[str, object]:
        payload: dict[str, object] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature,
            "stream": stream,
        }
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        if stream and self.stream_usage:
            # vLLM, Ollama and OpenAI then send a last event with the token counts (and no choices).
            payload["stream_options"] = {"include_usage": True}
        return payload

    def complete(self, messages: Sequence[Message], json_mode: bool = False) -> str:
        try:
            response = self._client.post("/chat/completions", json=self._payload(messages, False, json_mode))
            response.raise_for_status()
            body = response.json()
            content = body["choices"][0]["message"]["content"]
            self._report(body.get("usage"))
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise UpstreamError(f"LLM request failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(content, str):
            raise UpstreamError("LLM returned no text content")
        return content

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        try:
            with self._client.stream(
                "POST", "/chat/completions", json=self._payload(messages, True)
            ) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    event = json.loads(data)
                    self._report(event.get("usage"))
                    choices = event.get("choices") or []
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    if piece:
                        yield piece
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise UpstreamError(f"LLM stream failed: {type(exc).__name__}: {exc}") from exc


class ScriptedChatModel:
    """Deterministic test double: returns the scripted replies in order (the last one repeats)."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.calls: list[list[Message]] = []

    def complete(self, messages: Sequence[Message], json_mode: bool = False) -> str:
        self.calls.append(list(messages))
        return self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        text = self.complete(messages)
        for i in range(0, len(text), 12):
            yield text[i : i + 12]


def chat_model_from_settings(settings: Settings) -> ChatModel | None:
    """The configured LLM, or None for the offline (extractive) mode."""
    if not settings.llm_enabled:
        return None
    return OpenAICompatibleChatModel(
        settings.llm_base_url,
        settings.llm_model,
        settings.llm_api_key,
        settings.llm_timeout,
        settings.llm_temperature,
        settings.llm_stream_usage,
    )
