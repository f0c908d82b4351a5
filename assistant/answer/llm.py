"""The LLM composer: numbered fragments in, an answer with validated [n] markers out."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import closing

from assistant.errors import TurnCancelled
from assistant.llm import ChatModel, Message
from assistant.prompts import Prompts
from assistant.retrieval import Retrieved

_URL = re.compile(r"https?://[^\s)\]>]+")
_TOKEN = re.compile(r"\blink_(\d+)\b")


def fragments(retrieved: Sequence[Retrieved]) -> tuple[str, dict[str, str]]:
    """The context block, with every URL replaced by a token so the model cannot invent links."""
    links: dict[str, str] = {}

    def tokenise(match: re.Match[str]) -> str:
        url = match.group(0)
        for token, known in links.items():
            if known == url:
                return token
        token = f"link_{len(links) + 1}"
        links[token] = url
        return token

    blocks = []
    for n, hit in enumerate(retrieved, start=1):
        text = _URL.sub(tokenise, hit.chunk.text)
        blocks.append(f"[{n}] {hit.chunk.title} — {hit.chunk.section}\n{text}")
    return "\n\n".join(blocks), links


def untokenised(answer: str, links: dict[str, str]) -> str:
    """Known link tokens back to their URLs; unknown ones removed."""
    return _TOKEN.sub(lambda m: links.get(m.group(0), ""), answer)


def messages_for(
    prompts: Prompts,
    language: str,
    question: str,
    retrieved: Sequence[Retrieved],
    history: Sequence[Message] = (),
    correction: str = "",
) -> tuple[list[Message], dict[str, str]]:
    context, links = fragments(retrieved)
    system = prompts.system_prompt(language) + "\n\nBronfragmenten:\n\n" + context
    messages: list[Message] = [{"role": "system", "content": system}]
    messages.extend(history)
    messages.append({"role": "user", "content": question})
    if correction:
        messages.append(
            {
                "role": "user",
                "content": f"Je vorige antwoord werd afgekeurd ({correction}). Schrijf het opnieuw volgens de regels.",
            }
        )
    return messages, links


def llm_answer(
    model: ChatModel,
    prompts: Prompts,
    language: str,
    question: str,
    retrieved: Sequence[Retrieved],
    history: Sequence[Message] = (),
    correction: str = "",
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """The model's answer (streamed from the endpoint), with links restored and unknown markers removed.

    When `cancelled()` turns true the stream is closed at once (a self-hosted LLM server then stops
    generating) and TurnCancelled is raised.
    """
    messages, links = messages_for(prompts, language, question, retrieved, history, correction)
    parts: list[str] = []
    with closing(iter(model.stream(messages))) as stream:  # type: ignore[type-var]
        for piece in stream:
            if cancelled():
                raise TurnCancelled("the visitor left")
            parts.append(piece)
    text = "".join(parts)
    text = untokenised(text, links)
    return re.sub(
        r"\[(\d{1,2})\]", lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(retrieved) else "", text
    ).strip()
