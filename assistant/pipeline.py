"""The chat pipeline: one typed Turn flows through an ordered list of small stage functions."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from assistant.answer.extractive import extractive_answer
from assistant.answer.llm import llm_answer
from assistant.config import Settings
from assistant.errors import TurnCancelled, UpstreamError
from assistant.guards import output
from assistant.guards.classify import INTENTS, Classification, Classifier
from assistant.guards.language import detect_language
from assistant.guards.normalize import normalized
from assistant.guards.scrub import scrub
from assistant.llm import ChatModel, Message
from assistant.prompts import Prompts
from assistant.retrieval import Filters, Retrieved, Retriever
from assistant.tokens import stems

Status = Literal["answered", "no_answer", "refused", "crisis"]


class Citation(BaseModel):
    n: int
    doc_id: str
    collection: str
    title: str
    url: str
    section: str
    start: float | None = None
    end: float | None = None
    snippet: str


class Referral(BaseModel):
    kind: str
    label: str
    url: str


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    text: str
    blocked: bool = False  # refused turns stay out of later condensing


class Turn(BaseModel):
    """Everything known about one user message on its way to an answer."""

    raw: str
    conversation_id: str = ""
    channel: str = "web"
    profile: str = ""
    filters: Filters = Field(default_factory=Filters)
    history: list[HistoryItem] = Field(default_factory=list)
    text: str = ""
    pii: list[str] = Field(default_factory=list)
    language: str = "nl"
    intent: str = "question"
    intent_source: str = ""
    question: str = ""  # what is searched and answered: the message, or a follow-up made stand-alone
    condensed_by: str = ""  # "" (not a follow-up), "llm" or "carry_over"
    retrieved: list[Retrieved] = Field(default_factory=list)
    answerability: float = 0.0
    answer: str = ""
    composer: str = ""
    citations: list[Citation] = Field(default_factory=list)
    referrals: list[Referral] = Field(default_factory=list)
    status: Status = "answered"
    reason: str | None = None
    checks_failed: list[str] = Field(default_factory=list)
    finished: bool = False
    timings: dict[str, float] = Field(default_factory=dict)
    # Set by the channel when the visitor has gone (a closed stream): the pipeline stops at the next stage.
    cancelled: threading.Event = Field(default_factory=threading.Event, exclude=True, repr=False)

    model_config = {"arbitrary_types_allowed": True}

    def finish(self, status: Status, reason: str | None, answer: str) -> None:
        self.status, self.reason, self.answer, self.finished = status, reason, answer, True


@dataclass
class Context:
    """The services stages may use."""

    settings: Settings
    prompts: Prompts
    retriever: Retriever
    classifier: Classifier
    llm: ChatModel | None = None
    extra_checks: list[Callable[[Turn], str | None]] = field(default_factory=list)


Stage = Callable[[Turn, Context], None]


# --- input stages ---------------------------------------------------------------------------------
def normalize(turn: Turn, ctx: Context) -> None:
    turn.text = normalized(turn.raw)[: ctx.settings.max_message_chars]


def scrub_personal_data(turn: Turn, ctx: Context) -> None:
    result = scrub(turn.text)
    turn.text, turn.pii = result.text, result.found


def detect(turn: Turn, ctx: Context) -> None:
    turn.language = detect_language(turn.text)


def classify(turn: Turn, ctx: Context) -> None:
    unscrubbed = normalized(turn.raw)[: ctx.settings.max_message_chars] if turn.pii else ""
    decided = ctx.classifier.classify(
        turn.text, unscrubbed, follow_up=_is_follow_up(turn), meaning=_search_text(turn.text, turn, ctx)
    )
    if decided.intent == "question" and ctx.llm is not None and ctx.settings.llm_classifier:
        decided = _llm_intent(turn, ctx) or decided
    turn.intent, turn.intent_source = decided.intent, decided.source
    seed = turn.conversation_id
    if turn.intent == "crisis":
        turn.referrals = [_referral(ctx, "crisis", turn.language)]
        turn.finish("crisis", "crisis", ctx.prompts.response("crisis", turn.language, seed))
    elif turn.intent in ("prompt_injection", "out_of_scope", "abuse"):
        turn.finish("refused", turn.intent, ctx.prompts.response(turn.intent, turn.language, seed))
    elif turn.intent in ("greeting", "thanks"):
        turn.finish("answered", "greeting", ctx.prompts.response(turn.intent, turn.language, seed))
    elif turn.intent == "handoff":
        turn.referrals = [_referral(ctx, "adviseur", turn.language)]
        turn.finish("answered", "handoff", ctx.prompts.response("handoff", turn.language, seed))


def _llm_intent(turn: Turn, ctx: Context) -> Classification | None:
    assert ctx.llm is not None
    try:
        reply = ctx.llm.complete(
            [{"role": "system", "content": ctx.prompts.classify}, {"role": "user", "content": turn.text}],
            json_mode=True,
        )
        intent = json.loads(reply).get("intent")
    except (UpstreamError, ValueError, AttributeError):
        return None  # the offline classifier already decided
    return Classification(intent, "llm") if intent in INTENTS else None


_FOLLOW_UP = re.compile(
    r"^(?:en|and|maar|but|ook|also|wat als|what if|hoe zit het|how about|en als|and if)\b", re.I
)


def _is_follow_up(turn: Turn) -> bool:
    """A short message or one that starts like a follow-up, after an earlier question."""
    if not any(h.role == "user" and not h.blocked for h in turn.history):
        return False
    return len(re.findall(r"\w+", turn.text)) <= 6 or bool(_FOLLOW_UP.match(turn.text))


def condense(turn: Turn, ctx: Context) -> None:
    """A follow-up ("en in het mbo?") becomes a stand-alone question: rewritten by the LLM when one is
    configured, else the previous question with the follow-up's terms carried over."""
    turn.question = turn.text
    if not _is_follow_up(turn):
        return
    if ctx.llm is not None and ctx.settings.llm_condense:
        rewritten = _llm_condense(turn, ctx)
        if rewritten:
            turn.question, turn.condensed_by = rewritten, "llm"
            return
    previous = [h for h in turn.history if h.role == "user" and not h.blocked]
    turn.question, turn.condensed_by = ctx.prompts.carry_over(previous[-1].text, turn.text), "carry_over"


def _history(turn: Turn, ctx: Context) -> list[Message]:
    """The recent conversation as LLM messages; refused turns stay out."""
    return [
        {"role": h.role, "content": h.text}
        for h in turn.history[-ctx.settings.max_history_turns :]
        if not h.blocked
    ]


def _llm_condense(turn: Turn, ctx: Context) -> str:
    assert ctx.llm is not None
    try:
        reply = ctx.llm.complete(
            [
                {"role": "system", "content": ctx.prompts.condense},
                *_history(turn, ctx),
                {"role": "user", "content": turn.text},
            ]
        )
    except UpstreamError:
        return ""  # the offline carry-over takes over
    lines = [line.strip().strip('"').strip() for line in reply.strip().splitlines() if line.strip()]
    question = lines[0] if lines else ""
    # A rewrite is one question about as long as a message; anything else is not trusted.
    if not question or len(question) > min(ctx.settings.max_message_chars, 3 * len(turn.text) + 400):
        return ""
    return question


def _search_text(text: str, turn: Turn, ctx: Context) -> str:
    """The text that is embedded and searched: the knowledge base is Dutch, so an English question gets
    the Dutch words of the glossary terms it contains."""
    if turn.language != "en":
        return text
    return f"{text} {ctx.prompts.dutch_search_words(text)}".strip()


def retrieve(turn: Turn, ctx: Context) -> None:
    turn.retrieved = ctx.retriever.search(_search_text(turn.question, turn, ctx), turn.filters)


def answerability(hits: Sequence[Retrieved], question: str) -> float:
    """How well the best chunks match: dense similarity, nudged by lexical coverage of the question."""
    if not hits:
        return 0.0
    wanted = set(stems(question))
    best = 0.0
    for hit in hits[:3]:
        coverage = len(wanted & set(stems(hit.chunk.section + " " + hit.chunk.text))) / max(1, len(wanted))
        best = max(best, hit.dense + 0.05 * coverage)
    return best


def judge_answerability(turn: Turn, ctx: Context) -> None:
    turn.answerability = answerability(turn.retrieved, turn.question)
    threshold = ctx.settings.answer_threshold_en if turn.language == "en" else ctx.settings.answer_threshold
    if turn.answerability >= threshold:
        return
    if turn.intent == "personal_verdict":
        # Nothing to cite: still say who decides and where to go, never a yes or no.
        turn.retrieved, turn.answer = [], ""
        verdict_framing(turn, ctx)
        turn.finish("answered", "personal_verdict", turn.answer)
    else:
        turn.referrals = [_referral(ctx, "adviseur", turn.language)]
        turn.finish(
            "no_answer", "no_answer", ctx.prompts.response("no_answer", turn.language, turn.conversation_id)
        )


# --- composing and checking -----------------------------------------------------------------------
def _extractive(turn: Turn, ctx: Context) -> str:
    english = turn.language == "en"
    body = extractive_answer(
        turn.question,
        turn.retrieved,
        quote=english,
        reject=ctx.classifier.planted_instruction,
    )
    intro = ctx.prompts.response("extractive_intro", turn.language, turn.conversation_id)
    return f"{intro}\n\n{body}" if intro and body else body


def compose(turn: Turn, ctx: Context) -> None:
    if ctx.llm is None:
        turn.answer, turn.composer = _extractive(turn, ctx), "extractive"
        return
    history = _history(turn, ctx)
    correction = ""
    for _attempt in range(2):  # one retry with the failure named
        try:
            answer = llm_answer(
                ctx.llm,
                ctx.prompts,
                turn.language,
                turn.question,
                turn.retrieved,
                history,
                correction,
                cancelled=turn.cancelled.is_set,
            )
        except TurnCancelled:
            turn.finish("no_answer", "cancelled", "")
            return
        except UpstreamError:
            turn.checks_failed.append("llm_error")
            break
        failure = _first_failure(turn, ctx, answer)
        if failure is None:
            turn.answer, turn.composer = answer, "llm"
            return
        turn.checks_failed.append(failure)
        correction = failure
    turn.answer, turn.composer = _extractive(turn, ctx), "extractive-fallback"


def _cited_text(answer: str, hits: Sequence[Retrieved]) -> str:
    cited = {int(n) for n in output.MARKER.findall(answer)}
    return "\n".join(h.chunk.section + "\n" + h.chunk.text for i, h in enumerate(hits, start=1) if i in cited)


def _first_failure(turn: Turn, ctx: Context, answer: str) -> str | None:
    cited = _cited_text(answer, turn.retrieved)
    allowed = [h.chunk.url for h in turn.retrieved]
    checks = [
        lambda: output.check_citations(answer, len(turn.retrieved)),
        lambda: output.check_paragraphs_cited(answer),
        lambda: output.check_links(answer, allowed, ctx.settings.allowed_link_hosts),
        lambda: output.check_personal_data(answer, cited),
        lambda: output.check_prompt_leak(answer, ctx.prompts.canary, list(ctx.prompts.system.values())),
        lambda: output.check_forbidden(answer, ctx.prompts.forbidden),
        lambda: output.check_language(answer, turn.language),
        lambda: output.check_numbers(answer, cited),
    ]
    for check in checks:
        failure = check()
        if failure:
            return failure
    return None


def check_output(turn: Turn, ctx: Context) -> None:
    """The final answer must pass every check; one that does not becomes an honest no-answer."""
    failure = _first_failure(turn, ctx, turn.answer) if turn.answer else "empty answer"
    for extra in ctx.extra_checks:
        failure = failure or extra(turn)
    if failure:
        turn.checks_failed.append(failure)
        turn.referrals = [_referral(ctx, "adviseur", turn.language)]
        turn.finish(
            "no_answer",
            "check_failed",
            ctx.prompts.response("no_answer", turn.language, turn.conversation_id),
        )


def attach(turn: Turn, ctx: Context) -> None:
    """Renumber markers in order of appearance and attach their citations and referrals."""
    if turn.status != "answered" or not turn.retrieved:
        return
    order: list[int] = []
    for n in output.MARKER.findall(turn.answer):
        if int(n) not in order:
            order.append(int(n))
    mapping = {old: new for new, old in enumerate(order, start=1)}
    turn.answer = output.MARKER.sub(
        lambda m: f"[{mapping.get(int(m.group(1)), int(m.group(1)))}]", turn.answer
    )
    turn.citations = [_citation(new, turn.retrieved[old - 1], ctx) for old, new in mapping.items()]
    if turn.reason == "personal_verdict":
        return
    if not turn.referrals:
        turn.referrals = [_referral(ctx, "adviseur", turn.language)]


def _citation(n: int, hit: Retrieved, ctx: Context) -> Citation:
    chunk = hit.chunk
    url = ctx.settings.site_url.rstrip("/") + chunk.url
    if chunk.start is not None:
        url += f"#t={int(chunk.start)}"
    snippet = chunk.text if len(chunk.text) <= 240 else chunk.text[:237].rsplit(" ", 1)[0] + "..."
    return Citation(
        n=n,
        doc_id=chunk.doc_id,
        collection=chunk.collection,
        title=chunk.title,
        url=url,
        section=chunk.section,
        start=chunk.start,
        end=chunk.end,
        snippet=snippet,
    )


def _referral(ctx: Context, kind: str, language: str) -> Referral:
    entry = ctx.prompts.referrals[kind]
    url = str(entry["url"]).replace("{adviser_url}", ctx.settings.adviser_url)
    if url.startswith("/"):
        url = ctx.settings.site_url.rstrip("/") + url
    return Referral(kind=kind, label=entry["label"].get(language) or entry["label"]["nl"], url=url)


def verdict_framing(turn: Turn, ctx: Context) -> None:
    """A personal verdict gets the general rule, who decides, and a referral; never a yes or no."""
    if turn.intent != "personal_verdict":
        return
    decider = ctx.prompts.decider(turn.text)
    who = decider.en if turn.language == "en" else decider.nl
    lead = ctx.prompts.response("personal_verdict", turn.language, turn.conversation_id, decider=who)
    turn.answer = f"{lead}\n\n{turn.answer}" if turn.answer else lead
    turn.reason = "personal_verdict"
    turn.referrals = [_referral(ctx, decider.referral, turn.language)]
    if decider.referral != "adviseur":
        turn.referrals.append(_referral(ctx, "adviseur", turn.language))


STAGES: list[Stage] = [
    normalize,
    scrub_personal_data,
    detect,
    classify,
    condense,
    retrieve,
    judge_answerability,
    compose,
    check_output,
    verdict_framing,
    attach,
]


def run(turn: Turn, ctx: Context, stages: Sequence[Stage] = STAGES) -> Turn:
    """Run the stages in order until one finishes the turn; each stage's time is recorded."""
    for stage in stages:
        if turn.cancelled.is_set():
            turn.finish("no_answer", "cancelled", "")
            break
        started = time.perf_counter()
        stage(turn, ctx)
        turn.timings[stage.__name__] = (time.perf_counter() - started) * 1000
        if turn.finished:
            break
    return turn
