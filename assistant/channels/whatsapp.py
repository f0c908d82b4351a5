"""WhatsApp Cloud API channel: webhook payloads in, WhatsApp-formatted replies out through a durable outbox.

Flow: the webhook (assistant.api.whatsapp) verifies the signature and stores each message as 'received';
the worker here claims received messages, asks the assistant, queues the reply parts in the outbox and
sends due parts to the Graph API, retrying with backoff. Every step is a row in SQL, so a stopped process
resumes where it was: unanswered messages are answered and unsent parts are sent, each exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
from anyio import to_thread
from prometheus_client import Counter

from assistant.config import Settings
from assistant.ingest.chunking import clock as timestamp_label
from assistant.pipeline import Citation, Referral, Turn
from assistant.whatsapp_store import InboundMessage, OutboxRow, StatusUpdate, WhatsAppStore, now

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.api.profiles import Profile
    from assistant.service import Assistant

log = logging.getLogger("assistant.whatsapp")

MAX_TEXT = 4096  # a text message body must stay under this
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_INTERACTIVE_BODY = 1024
WINDOW = timedelta(hours=24)  # free-form replies are allowed until 24 h after the user's last message

UNSUPPORTED_REPLY = (
    "Sorry, ik kan alleen tekstberichten lezen. Wil je je vraag in een gewoon tekstbericht typen? "
    "Dan help ik je graag verder."
)
# A quick-reply button whose title the pipeline recognises as a hand-off request ("Plan een gesprek").
HANDOFF_BUTTON = ("handoff", "Plan een gesprek")

# Meta's own message types that need no answer at all.
IGNORED_TYPES = frozenset({"reaction", "system", "request_welcome"})
# Graph error codes: throttling (retry later) and "the 24-hour window has closed".
THROTTLED_CODES = frozenset({4, 80007, 130429, 131048, 131056})
WINDOW_CLOSED_CODE = 131047

WINDOW_DROPS = Counter(
    "assistant_whatsapp_window_drops_total",
    "WhatsApp reply parts not sent because the user's 24-hour customer service window had closed",
)


# --- webhook payloads -------------------------------------------------------------------------------
def sender_hash(wa_id: str, salt: str) -> str:
    """The conversation key for a WhatsApp user: their number is never stored with it."""
    return hashlib.sha256((salt + wa_id).encode("utf-8")).hexdigest()


@dataclass
class Parsed:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    skipped: int = 0


def _stamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def message_content(message: dict[str, Any]) -> tuple[str, str]:
    """(kind, text): 'text' for typed text and tapped replies, 'ignored' for reactions and system
    notices, 'unsupported' for everything else (audio, image, location, sticker, document, ...)."""
    kind = message.get("type")
    if kind == "text":
        body = (message.get("text") or {}).get("body")
        return ("text", body) if isinstance(body, str) and body.strip() else ("unsupported", "")
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        for reply_kind in ("button_reply", "list_reply"):
            title = (interactive.get(reply_kind) or {}).get("title")
            if isinstance(title, str) and title.strip():
                return "text", title
        return "unsupported", ""
    if kind == "button":  # a template's quick-reply button
        text = (message.get("button") or {}).get("text")
        return ("text", text) if isinstance(text, str) and text.strip() else ("unsupported", "")
    if kind in IGNORED_TYPES:
        return "ignored", ""
    return "unsupported", ""


def parse_webhook(payload: Any, salt: str, phone_number_id: str = "") -> Parsed:
    """Messages and statuses from a webhook body (entry[].changes[].value); odd parts are skipped.

    Raises ValueError when the body is not a JSON object. Messages for another phone number of the same
    business account are skipped when our phone number id is configured.
    """
    if not isinstance(payload, dict):
        raise ValueError("the webhook body is not a JSON object")
    parsed = Parsed()
    if payload.get("object") != "whatsapp_business_account":
        log.info("ignoring a webhook for object %r", payload.get("object"))
        return parsed
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field", "messages") != "messages" or not isinstance(value, dict):
                parsed.skipped += 1
                continue
            metadata = value.get("metadata") or {}
            if phone_number_id and str(metadata.get("phone_number_id", "")) != phone_number_id:
                log.warning("ignoring a webhook for another phone number id")
                parsed.skipped += 1
                continue
            for message in _dicts(value.get("messages")):
                message_id, wa_id = message.get("id"), message.get("from")
                if (
                    not isinstance(message_id, str)
                    or not isinstance(wa_id, str)
                    or not message_id
                    or not wa_id
                ):
                    parsed.skipped += 1
                    continue
                kind, text = message_content(message)
                parsed.messages.append(
                    InboundMessage(
                        message_id=message_id,
                        sender_hash=sender_hash(wa_id, salt),
                        recipient=wa_id,
                        kind=kind,
                        text=text,
                        sent_at=_stamp(message.get("timestamp")) or now(),
                    )
                )
            for status in _dicts(value.get("statuses")):
                graph_id, state = status.get("id"), status.get("status")
                if not isinstance(graph_id, str) or not isinstance(state, str):
                    parsed.skipped += 1
                    continue
                errors = _dicts(status.get("errors"))
                code = errors[0].get("code") if errors else None
                parsed.statuses.append(
                    StatusUpdate(
                        graph_message_id=graph_id,
                        status=state,
                        timestamp=_stamp(status.get("timestamp")),
                        error_code=code if isinstance(code, int) else None,
                        error_title=str(errors[0].get("title") or errors[0].get("message") or "")
                        if errors
                        else None,
                    )
                )
    return parsed


# --- formatting -------------------------------------------------------------------------------------
_LINK = re.compile(r"(!?)\[([^\]\n]+)\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?", re.M)
_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+", re.M)


def absolute(url: str, base_url: str) -> str:
    """Site-relative links (our corpus pages) need the public address to be tappable in WhatsApp."""
    if url.startswith("/") and not url.startswith("//") and base_url:
        return base_url.rstrip("/") + url
    return url


def to_whatsapp(markdown: str, base_url: str = "") -> str:
    """Markdown to WhatsApp's own formatting; [n] citation markers are kept as they are."""
    text = _QUOTE.sub("", markdown.replace("\r\n", "\n"))
    text = _HEADING.sub(lambda m: f"**{m.group(1)}**", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}- ", text)

    def link(m: re.Match[str]) -> str:
        label, url = m.group(2).strip(), absolute(m.group(3), base_url)
        return url if label in (url, m.group(3)) else f"{label} ({url})"

    text = _LINK.sub(link, text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1)}*", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def sources_block(citations: Sequence[Citation], language: str = "nl", base_url: str = "") -> str:
    """'Bronnen:' and one numbered line per citation, matching the [n] markers; podcasts get their time."""
    if not citations:
        return ""
    english = language == "en"
    lines = ["Sources:" if english else "Bronnen:"]
    for citation in sorted(citations, key=lambda c: c.n):
        title = citation.title
        if citation.start is not None:
            title += f", {'from' if english else 'vanaf'} {timestamp_label(citation.start)}"
        lines.append(f"{citation.n}. {title} – {absolute(citation.url, base_url)}")
    return "\n".join(lines)


def referrals_block(referrals: Sequence[Referral], base_url: str = "") -> str:
    """Referrals are links, and reply buttons cannot open links: one 'Label: url' line each."""
    seen: set[str] = set()
    lines = []
    for referral in referrals:
        url = absolute(referral.url, base_url)
        if url and url not in seen:
            seen.add(url)
            lines.append(f"{referral.label}: {url}")
    return "\n".join(lines)


def units(text: str) -> int:
    """Length in UTF-16 code units: never less than the character count, so safe whichever Meta counts."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts under `limit`, cut between paragraphs; a paragraph too long on its own is cut between
    lines, then sentences, then words (and only a single giant word between characters)."""
    parts: list[str] = []
    current = ""
    for paragraph in re.split(r"\n[ \t]*\n", text.strip()):
        paragraph = paragraph.strip("\n").rstrip()
        if not paragraph.strip():
            continue
        pieces = [paragraph] if units(paragraph) < limit else _hard_split(paragraph, limit)
        for piece in pieces:
            candidate = f"{current}\n\n{piece}" if current else piece
            if units(candidate) < limit:
                current = candidate
            else:
                if current:
                    parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts


def _hard_split(text: str, limit: int) -> list[str]:
    for pattern, joiner in ((r"\n", "\n"), (r"(?<=[.!?…])\s+", " "), (r"\s+", " ")):
        pieces = [p for p in re.split(pattern, text) if p.strip()]
        if len(pieces) > 1:
            return _pack(pieces, joiner, limit)
    out: list[str] = []
    current = ""
    for char in text:
        if units(current + char) >= limit:
            out.append(current)
            current = ""
        current += char
    return [*out, current] if current else out


def _pack(pieces: Sequence[str], joiner: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for piece in pieces:
        if units(piece) >= limit:
            if current:
                out.append(current)
                current = ""
            out.extend(_hard_split(piece, limit))
            continue
        candidate = f"{current}{joiner}{piece}" if current else piece
        if units(candidate) < limit:
            current = candidate
        else:
            out.append(current)
            current = piece
    if current:
        out.append(current)
    return out


def text_message(body: str) -> dict[str, Any]:
    """A Cloud API text message object (without "to", which is added when sending)."""
    return {"type": "text", "text": {"preview_url": False, "body": body}}


def button_message(body: str, buttons: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Interactive reply buttons: at most 3, titles of at most 20 characters, unique.

    Tapping one sends its title back as an interactive reply, which goes through the same pipeline as text.
    Not used for referrals (they are links; reply buttons cannot open URLs): see HANDOFF_BUTTON.
    """
    chosen: list[dict[str, Any]] = []
    titles: set[str] = set()
    for button_id, title in buttons:
        title = title.strip()
        if len(title) > MAX_BUTTON_TITLE:
            title = title[: MAX_BUTTON_TITLE - 1].rstrip() + "…"
        if not title or title in titles:
            continue
        titles.add(title)
        chosen.append({"type": "reply", "reply": {"id": button_id[:256], "title": title}})
        if len(chosen) == MAX_BUTTONS:
            break
    if not chosen:
        raise ValueError("an interactive message needs at least one button")
    if len(body) > MAX_INTERACTIVE_BODY:
        body = body[: MAX_INTERACTIVE_BODY - 1].rstrip() + "…"
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": chosen}},
    }


def render_turn(turn: Turn, base_url: str = "") -> list[dict[str, Any]]:
    """The answer with its sources (split as needed), then the referrals as a last text part."""
    answer = to_whatsapp(turn.answer, base_url)
    sources = sources_block(turn.citations, turn.language, base_url)
    text = f"{answer}\n\n{sources}" if answer and sources else answer or sources
    parts = split_message(text)
    parts += split_message(referrals_block(turn.referrals, base_url))
    return [text_message(part) for part in parts]


# --- sending ----------------------------------------------------------------------------------------
def parse_retry_after(value: str | None, at: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (at or now())).total_seconds())


def backoff_delay(attempts: int, retry_after: float | None, base: float, cap: float) -> float:
    """Retry-After when the server gave one, else exponential from `base` (with ±10% jitter), capped."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), 86400.0)
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.9, 1.1)


@dataclass
class Outcome:
    kind: str  # sent, retry, failed, window
    graph_message_id: str | None = None
    error: str = ""
    retry_after: float | None = None


def _graph_error(response: httpx.Response) -> tuple[int | None, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return None, response.text[:200]
    code = error.get("code")
    return (code if isinstance(code, int) else None), str(error.get("message") or "")[:300]


class WhatsAppWorker:
    """Answers received messages and sends the outbox. `drain()` does all work that is due now (tests and
    the CLI call it directly); `start()` runs it in the background, woken by the webhook."""

    def __init__(
        self,
        settings: Settings,
        store: WhatsAppStore,
        assistant: Assistant,
        profile: Profile | None = None,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = now,
        backoff_base: float = 2.0,
        backoff_cap: float = 900.0,
        lease: float = 300.0,
        poll_interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.assistant = assistant
        self.profile = profile
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lease = lease  # seconds after which another worker may take over a claimed row
        self.poll_interval = poll_interval
        self.graph_url = (
            f"{settings.whatsapp_graph_url.rstrip('/')}/{settings.whatsapp_graph_version}"
            f"/{settings.whatsapp_phone_number_id}/messages"
        )
        self._client = client
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def configured(self) -> bool:
        return bool(self.settings.whatsapp_access_token and self.settings.whatsapp_phone_number_id)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- receiving (called by the webhook) -------------------------------------------------------------
    def store_webhook(self, parsed: Parsed, base_url: str = "") -> dict[str, int]:
        counts = {"received": 0, "duplicates": 0, "statuses": 0}
        for message in parsed.messages:
            if self.store.record_inbound(message, base_url):
                counts["received"] += 1
            else:
                counts["duplicates"] += 1
                log.info("duplicate delivery of message %s ignored", message.message_id)
        for status in parsed.statuses:
            self.store.record_status(status)
            counts["statuses"] += 1
        return counts

    # --- the work ------------------------------------------------------------------------------------
    def drain_once(self) -> datetime | None:
        """One round: answer received messages, then send every part that is due. Returns when more work
        will be due (None: nothing pending)."""
        with self._lock:
            for row_id in self.store.expire_claims(self.lease):
                log.error("outbox row %s was interrupted mid-send; marked failed, not resent", row_id)
            self.process_inbound()
            if self.configured:
                self.send_due()
            return self.store.next_due()

    def drain(self, rounds: int = 50) -> None:
        """Rounds until nothing is due now (retries scheduled later stay pending)."""
        for _ in range(rounds):
            due = self.drain_once()
            if due is None or due > self.clock() or not self.configured:
                return

    def process_inbound(self) -> int:
        """Answer every received message; its reply parts go to the outbox in one transaction."""
        done = 0
        while (row := self.store.claim_inbound(self.lease)) is not None:
            try:
                payloads = self._reply_for(row)
            except Exception:  # noqa: BLE001 - a user always gets an answer, never silence
                log.exception("answering WhatsApp message %s failed", row["message_id"])
                payloads = [text_message(self._fallback())]
            self.store.complete_inbound(row["id"], payloads)
            done += 1
        return done

    def _fallback(self) -> str:
        return self.assistant.prompts.response("fallback_error", "nl")

    def _reply_for(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        if row["kind"] == "ignored":
            return []
        if row["kind"] != "text" or not (row["text"] or "").strip():
            return [text_message(UNSUPPORTED_REPLY)]
        turn = self._ask(row["text"], row["sender_hash"])
        parts = render_turn(turn, self.settings.site_url or row["base_url"] or "")
        return parts or [text_message(self._fallback())]

    def _ask(self, text: str, conversation_id: str) -> Turn:
        profile_id = self.profile.id if self.profile else "default"
        ensure = getattr(self.assistant.conversations, "ensure", None)
        if callable(ensure):  # SQL conversations: the hash is the id, created on first contact
            ensure(conversation_id, "whatsapp", profile_id)
        turn = self.assistant.ask(
            text,
            conversation_id=conversation_id,
            filters=self.profile.filters if self.profile else None,
            channel="whatsapp",
            profile=profile_id,
        )
        if self.profile and self.profile.handoff_url:
            for referral in turn.referrals:
                if referral.kind == "adviseur":
                    referral.url = self.profile.handoff_url
        return turn

    def send_due(self) -> int:
        """Send due parts, in order per recipient, until none is due (bounded by the attempt limit)."""
        handled = 0
        for _ in range(10000):
            due = self.store.sendable(self.clock())
            if not due:
                break
            for row in due:
                self._send(row)
                handled += 1
        return handled

    def _send(self, row: OutboxRow) -> None:
        at = self.clock()
        last = self.store.last_inbound(row.sender_hash)
        if last is None or at - last > WINDOW:
            if self.store.mark_final(row.id, "dropped_window", "24-hour window closed", expected="pending"):
                WINDOW_DROPS.inc()
                log.warning(
                    "reply part %s not sent: the user's last message is older than 24 hours",
                    row.idempotency_key,
                )
            return
        if not row.recipient:
            self.store.mark_final(row.id, "failed", "no recipient", expected="pending")
            return
        if not self.store.claim_outbox(row.id):
            return  # another worker has it
        attempts = row.attempts + 1
        outcome = self._post(row.recipient, row.payload)
        if outcome.kind == "sent":
            self.store.mark_sent(row.id, outcome.graph_message_id)
        elif outcome.kind == "window":
            self.store.mark_final(row.id, "dropped_window", outcome.error)
            WINDOW_DROPS.inc()
            log.warning("reply part %s refused by Meta: window closed", row.idempotency_key)
        elif outcome.kind == "retry" and attempts < self.settings.whatsapp_max_attempts:
            delay = backoff_delay(attempts, outcome.retry_after, self.backoff_base, self.backoff_cap)
            self.store.mark_retry(row.id, self.clock() + timedelta(seconds=delay), outcome.error)
            log.info("reply part %s: %s; retry in %.1fs", row.idempotency_key, outcome.error, delay)
        else:
            error = outcome.error
            if outcome.kind == "retry":
                error += f" (gave up after {attempts} attempts)"
            self.store.mark_final(row.id, "failed", error)
            log.error("reply part %s failed: %s", row.idempotency_key, error)

    def _post(self, to: str, payload: dict[str, Any]) -> Outcome:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **payload}
        headers = {"Authorization": f"Bearer {self.settings.whatsapp_access_token}"}
        try:
            response = self.client.post(self.graph_url, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Outcome("retry", error=f"connection error: {exc.__class__.__name__}: {exc}")
        except httpx.TransportError as exc:
            # The request may have reached Meta: sending again could deliver the part twice.
            return Outcome("failed", error=f"outcome unknown: {exc.__class__.__name__}: {exc}")
        if response.is_success:
            try:
                messages = response.json().get("messages") or [{}]
                graph_id = messages[0].get("id")
            except (ValueError, AttributeError, IndexError):
                graph_id = None
            return Outcome("sent", graph_message_id=graph_id if isinstance(graph_id, str) else None)
        code, message = _graph_error(response)
        error = (
            f"HTTP {response.status_code}" + (f" code {code}" if code is not None else "") + f": {message}"
        )
        if code == WINDOW_CLOSED_CODE:
            return Outcome("window", error=error)
        if response.status_code == 429 or response.status_code >= 500 or code in THROTTLED_CODES:
            return Outcome(
                "retry", error=error, retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        return Outcome("failed", error=error)

    # --- background loop -----------------------------------------------------------------------------
    def wake(self) -> None:
        """New work: run a round now instead of at the next poll."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run_once(self) -> datetime | None:
        return await to_thread.run_sync(self.drain_once, abandon_on_cancel=True)

    async def run_forever(self) -> None:
        assert self._wake is not None
        try:
            removed = await to_thread.run_sync(self.store.purge, self.settings.retention_days)
            if removed:
                log.info("purged %d old WhatsApp records", removed)
        except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
            log.exception("purging old WhatsApp records failed")
        while not self._stopping:
            try:
                due = await self.run_once()
            except Exception:  # noqa: BLE001 - the loop keeps going; the rows are still in SQL
                log.exception("WhatsApp worker round failed")
                due = None
            if self._stopping:
                break
            delay = self.poll_interval
            if due is not None:
                delay = min(delay, max(0.05, (due - now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()

    async def start(self) -> None:
        """Start the background loop: it first resumes whatever a previous process left."""
        if self._task is not None:
            return
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self.run_forever(), name="whatsapp-worker")

    async def stop(self, timeout: float = 10.0) -> None:
        task, self._task = self._task, None
        self._stopping = True
        self.wake()
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=timeout)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("WhatsApp worker did not stop in time; its claims expire after the lease")
        self._loop = None
        self._wake = None
        self.close()


# --- app wiring ---------------------------------------------------------------------------------------
_wiring = threading.Lock()


def worker_for(app: FastAPI) -> WhatsAppWorker:
    """The app's worker, made on first use from the app's settings, database, assistant and profile."""
    with _wiring:
        worker: WhatsAppWorker | None = getattr(app.state, "whatsapp_worker", None)
        if worker is None:
            worker = WhatsAppWorker(
                app.state.settings,
                WhatsAppStore(app.state.db),
                app.state.assistant,
                profile=(getattr(app.state, "profiles", None) or {}).get("default"),
            )
            app.state.whatsapp_worker = worker
        return worker


async def start_worker(app: FastAPI) -> None:
    """Lifespan start-up: run the worker when WhatsApp is configured (token and phone number id)."""
    worker = worker_for(app)
    if not worker.configured:
        log.info("WhatsApp is not configured: no outbox worker")
        return
    await worker.start()


async def stop_worker(app: FastAPI) -> None:
    worker: WhatsAppWorker | None = getattr(app.state, "whatsapp_worker", None)
    if worker is not None:
        await worker.stop()
