"""Prompts, canned responses and guardrail rules: content in `prompts/`, loaded and validated at start-up."""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import ConfigurationError

REQUIRED_RESPONSES = (
    "greeting",
    "thanks",
    "handoff",
    "out_of_scope",
    "prompt_injection",
    "abuse",
    "crisis",
    "no_answer",
    "personal_verdict",
    "fallback_error",
)


@dataclass
class Decider:
    pattern: re.Pattern[str]
    referral: str
    nl: str
    en: str


@dataclass
class Prompts:
    """Everything editors may change without touching code."""

    system: dict[str, str]
    condense: str
    classify: str
    responses: dict[str, dict[str, list[str]]]
    referrals: dict[str, dict[str, Any]]
    rule_order: list[str]
    rule_patterns: dict[str, list[re.Pattern[str]]]
    deciders: list[Decider]
    forbidden: list[re.Pattern[str]]
    intent_examples: dict[str, list[str]]
    glossary: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    # Interchangeable terms per kind (sector, subject, ...) for offline follow-ups.
    follow_up_kinds: dict[str, dict[str, re.Pattern[str]]] = field(default_factory=dict)
    # The intent model's minimum probability per intent; an intent without one is left to the rules.
    model_thresholds: dict[str, float] = field(default_factory=dict)
    # Words of this domain: a message with one is never refused as out of scope by the intent model.
    in_scope_terms: re.Pattern[str] | None = None
    canary: str = field(default_factory=lambda: "CANARY-" + secrets.token_hex(8))

    def dutch_search_words(self, question: str) -> str:
        """The Dutch words of every glossary term an English question contains."""
        return " ".join(words for pattern, words in self.glossary if pattern.search(question))

    def carry_over(self, previous: str, follow_up: str) -> str:
        """A follow-up as a stand-alone search text without an LLM: the previous question, with each term
        of a kind the follow-up names exactly once ("en in het mbo?") put in place of that kind's other
        terms, then the follow-up itself."""
        text = previous
        for terms in self.follow_up_kinds.values():
            named = [(value, m) for value, pattern in terms.items() if (m := pattern.search(follow_up))]
            if len(named) != 1:
                continue
            value, match = named[0]
            for other, pattern in terms.items():
                if other != value:
                    text = pattern.sub(match.group(0), text)
        return f"{text} {follow_up}"

    def system_prompt(self, language: str) -> str:
        return self.system[language].replace("{canary}", self.canary)

    def response(self, reason: str, language: str, seed: str = "", **values: str) -> str:
        """One phrasing of a canned response, stable within a conversation (seeded by its id)."""
        variants = self.responses[reason].get(language) or self.responses[reason]["nl"]
        text = random.Random(f"{seed}:{reason}").choice(variants)
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text

    def decider(self, text: str) -> Decider:
        for decider in self.deciders:
            if decider.pattern.search(text):
                return decider
        return self.deciders[-1]


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot be read ({exc})") from exc


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigurationError(f"{where}: invalid pattern {pattern!r} ({exc})") from exc


def load_prompts(folder: Path) -> Prompts:
    """Read and validate `prompts/`; a missing file or bad pattern stops start-up with a clear message."""
    responses = _yaml(folder / "responses.yaml")
    missing = [r for r in REQUIRED_RESPONSES if r not in responses or "nl" not in responses[r]]
    if missing:
        raise ConfigurationError(f"{folder / 'responses.yaml'}: missing responses {missing}")
    rules = _yaml(folder / "rules.yaml")
    patterns = {
        intent: [_compile(p, f"rules.yaml:{intent}") for p in items]
        for intent, items in {
            **rules["patterns"],
            "thanks": rules["thanks"],
            "greeting": rules["greeting"],
        }.items()
    }
    deciders = [
        Decider(_compile(d["pattern"], "rules.yaml:deciders"), d["referral"], d["nl"], d["en"])
        for d in rules["deciders"]
    ]
    forbidden = [
        _compile(p, f"forbidden_claims.yaml:{group}")
        for group, items in _yaml(folder / "forbidden_claims.yaml").items()
        for p in items
    ]
    examples = {
        path.stem: [str(e) for e in (_yaml(path) or {}).get("examples", [])]
        for path in sorted((folder / "intents").glob("*.yaml"))
    }
    return Prompts(
        system={lang: (folder / f"system_{lang}.md").read_text(encoding="utf-8") for lang in ("nl", "en")},
        condense=(folder / "condense.md").read_text(encoding="utf-8"),
        classify=(folder / "classify.md").read_text(encoding="utf-8"),
        responses=responses,
        referrals=_yaml(folder / "referrals.yaml"),
        rule_order=list(rules["order"]),
        rule_patterns=patterns,
        deciders=deciders,
        forbidden=forbidden,
        intent_examples=examples,
        model_thresholds={str(k): float(v) for k, v in (rules.get("model_thresholds") or {}).items()},
        in_scope_terms=_compile(rules["in_scope_terms"], "rules.yaml:in_scope_terms")
        if rules.get("in_scope_terms")
        else None,
        glossary=[
            (_compile(pattern, "glossary.yaml"), str(words))
            for pattern, words in ((_yaml(folder / "glossary.yaml") or {}).get("en_nl") or {}).items()
        ]
        if (folder / "glossary.yaml").exists()
        else [],
        follow_up_kinds={
            str(kind): {
                str(value): _compile(rf"(?<![\w-])(?:{pattern})", f"follow_ups.yaml:{kind}")
                for value, pattern in terms.items()
            }
            for kind, terms in ((_yaml(folder / "follow_ups.yaml") or {}).get("kinds") or {}).items()
        }
        if (folder / "follow_ups.yaml").exists()
        else {},
    )
