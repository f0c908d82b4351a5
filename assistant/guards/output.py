"""Checks on a composed answer before anyone sees it; each returns a failure message or None."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlparse

from assistant.guards.language import detect_language
from assistant.guards.scrub import PLACEHOLDERS, scrub

MARKER = re.compile(r"\[(\d{1,2})\]")
_LINK = re.compile(r"\]\((?P<md>[^)\s]+)\)|(?P<bare>https?://[^\s)\]>]+)")
# Amounts, percentages, durations, dates: digits with Dutch (25.000 / 2,5) or English (25,000 / 2.5) notation.
_NUMBER = re.compile(r"(?<![\w\[])\d+(?:[.,]\d+)*(?![\w\]])")


def number_forms(token: str) -> set[str]:
    """The values a written number may stand for: '25.000' -> 25000, '2,5' -> 2.5."""
    forms = {token}
    digits = token.replace(".", "").replace(",", "")
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", token) or re.fullmatch(r"\d{1,3}(?:,\d{3})+", token):
        forms.add(digits)
    if re.fullmatch(r"\d+,\d+", token):
        forms.add(token.replace(",", "."))
    if re.fullmatch(r"\d+\.\d+", token):
        forms.add(token.replace(".", ","))
    return {f.lstrip("0") or "0" for f in forms}


def number_tokens(text: str) -> list[str]:
    return [token.rstrip(".,") for token in _NUMBER.findall(MARKER.sub(" ", text))]


def numbers_in(text: str) -> set[str]:
    """Every form of every number in a text."""
    return {form for token in number_tokens(text) for form in number_forms(token)}


def own_voice(answer: str) -> str:
    """The answer without quoted source excerpts (lines starting with '>')."""
    return "\n".join(line for line in answer.splitlines() if not line.lstrip().startswith(">"))


def check_citations(answer: str, n_sources: int) -> str | None:
    markers = [int(m) for m in MARKER.findall(answer)]
    if not markers:
        return "citations: the answer cites no source"
    unknown = sorted({m for m in markers if not 1 <= m <= n_sources})
    if unknown:
        return f"citations: unknown source markers {unknown}"
    return None


def check_paragraphs_cited(answer: str) -> str | None:
    for paragraph in re.split(r"\n\s*\n", answer):
        text = paragraph.strip()
        words = re.findall(r"\w+", text)
        if len(words) >= 8 and not MARKER.search(text) and not text.endswith("?") and not text.endswith(":"):
            return f"citations: a paragraph without a source: {text[:60]!r}"
    return None


def check_links(answer: str, allowed_urls: Sequence[str], allowed_hosts: Sequence[str]) -> str | None:
    for match in _LINK.finditer(answer):
        url = match.group("md") or match.group("bare") or ""
        if url.startswith("/") or url in allowed_urls:
            continue
        host = urlparse(url).hostname or ""
        if host not in allowed_hosts:
            return f"links: {url} is neither a cited source nor on the allow-list"
    return None


def check_personal_data(answer: str, cited_text: str) -> str | None:
    if any(placeholder in answer for placeholder in PLACEHOLDERS.values()):
        return "personal data: a placeholder of scrubbed data is echoed"
    in_answer = set(scrub(answer).found)
    in_sources = set(scrub(cited_text).found)
    extra = in_answer - in_sources
    if extra:
        return f"personal data: the answer contains {sorted(extra)}"
    return None


def check_prompt_leak(answer: str, canary: str, system_prompts: Sequence[str]) -> str | None:
    if canary and canary in answer:
        return "leak: the canary string appears in the answer"
    # Ten words in a row: long enough that shared phrases ("the school or DUO") do not count.
    size = 10
    words = re.findall(r"\w+", answer.lower())
    grams = {" ".join(words[i : i + size]) for i in range(max(0, len(words) - size + 1))}
    for prompt in system_prompts:
        prompt_words = re.findall(r"\w+", prompt.lower())
        for i in range(max(0, len(prompt_words) - size + 1)):
            if " ".join(prompt_words[i : i + size]) in grams:
                return "leak: the answer repeats the system prompt"
    return None


def check_forbidden(answer: str, patterns: Sequence[re.Pattern[str]]) -> str | None:
    voice = own_voice(answer)
    for pattern in patterns:
        hit = pattern.search(voice)
        if hit:
            return f"forbidden claim: {hit.group(0)!r}"
    return None


def check_language(answer: str, language: str) -> str | None:
    voice = MARKER.sub("", own_voice(answer)).strip()
    if len(re.findall(r"\w+", voice)) < 6:
        return None
    detected = detect_language(voice)
    return None if detected == language else f"language: the answer reads as {detected}, not {language}"


def check_numbers(answer: str, cited_text: str) -> str | None:
    available = numbers_in(cited_text)
    prose = re.sub(r"(?m)^\s*\d+[.)]\s+", "", answer)  # list numbering is not a figure
    missing = sorted({t for t in number_tokens(prose) if not number_forms(t) & available})
    return f"numbers: {missing} not in a cited source" if missing else None
