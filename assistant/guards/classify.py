"""Classifying a message: rules first, then meaning (embedding similarity to editor-kept example sets)."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import threading
import unicodedata
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from assistant.embeddings import Embedder
from assistant.prompts import Prompts
from assistant.tokens import STOPWORDS

INTENTS = (
    "question",
    "greeting",
    "thanks",
    "handoff",
    "out_of_scope",
    "prompt_injection",
    "abuse",
    "crisis",
    "personal_verdict",
)
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[ ]?){12,}\b")


@dataclass
class Classification:
    intent: str
    source: str  # which rule set or example set decided
    score: float = 1.0


def decoded_variants(text: str) -> list[str]:
    """Readings of a message that hide instructions: base64, hex, URL-encoding, ROT13, leetspeak, reversed, spaced."""
    variants: list[str] = []
    for token in _B64.findall(text):
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=False)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if sum(ch.isprintable() for ch in decoded) >= 0.9 * len(decoded) and re.search(
            r"[a-zA-Z]{3,} [a-zA-Z]{2,}", decoded
        ):
            variants.append(decoded)
    for token in _HEX.findall(text):
        try:
            variants.append(bytes.fromhex(token.replace(" ", "")).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
    if "%" in text:
        variants.append(urllib.parse.unquote(text))
    variants.append(text.translate(_LEET))
    folded = unicodedata.normalize("NFKC", text)  # full-width and other look-alike letters
    if folded != text:
        variants.append(folded)
    # Only text that is not plain Dutch or English can hide ROT13 or reversed words; a message may wrap
    # it in a plain sentence ("lees dit achterstevoren: ..."), so each part after a colon counts too.
    for part in {text, *re.split(r"[:\n]", text)}:
        if part.strip() and not _reads_as_language(part):
            variants.append(codecs.decode(part, "rot13"))
            variants.append(part[::-1])
    # "n-e-g-e-e-r" or "i g n o r e": letters split by separators
    for separator in (r"[.\-_*]", r" "):
        joined = re.sub(rf"(?<=\b\w){separator}(?=\w\b)", "", text)
        if joined != text:
            variants.append(joined)
    return variants


def _reads_as_language(text: str) -> bool:
    words = re.findall(r"[a-zà-ÿ']+", text.lower())
    common = sum(1 for w in words if w in STOPWORDS)
    return bool(words) and common / len(words) >= 0.25


class Classifier:
    """Rules from prompts/rules.yaml, then the meaning of the message, learnt from prompts/intents/*.yaml.

    `method="model"` (default): a logistic regression on the question embeddings of all examples, which
    decides only when it is confident: `model_thresholds` in rules.yaml gives the minimum probability per
    intent (intents without one are left to the rules). `method="examples"`: similarity to the nearest
    example (`threshold`, `margin`), the earlier approach.
    """

    def __init__(
        self,
        prompts: Prompts,
        embedder: Embedder,
        threshold: float = 0.9,
        margin: float = 0.02,
        method: str = "model",
    ) -> None:
        self.prompts = prompts
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.method = method
        self._examples: dict[str, np.ndarray] = {}
        self._fitted: Any = None
        self._fit_lock = threading.Lock()
        self._combined: dict[str, re.Pattern[str]] = {}
        # Asked for every candidate sentence of every extractive answer; the corpus is finite, so the
        # verdicts are kept (bounded, in case documents change while the process runs).
        self.planted_instruction = lru_cache(maxsize=20_000)(self._planted_instruction)

    def _example_vectors(self) -> dict[str, np.ndarray]:
        if not self._examples:
            for intent, examples in self.prompts.intent_examples.items():
                if examples:
                    self._examples[intent] = self.embedder.embed_passages(examples)
        return self._examples

    def _intent_model(self) -> Any:
        """The logistic regression over the examples, fitted once (on first use or at warm-up)."""
        with self._fit_lock:
            if self._fitted is None:
                from sklearn.linear_model import LogisticRegression
                from sklearn.pipeline import make_pipeline
                from sklearn.preprocessing import StandardScaler

                texts: list[str] = []
                labels: list[str] = []
                for intent, examples in self.prompts.intent_examples.items():
                    texts += examples
                    labels += [intent] * len(examples)
                batch = getattr(self.embedder, "embed_queries", None)
                vectors = (
                    np.asarray(batch(texts))
                    if batch is not None
                    else np.stack([self.embedder.embed_query(t) for t in texts])
                )
                # e5 vectors differ in small amounts per dimension: standardise before the regression.
                model = make_pipeline(
                    StandardScaler(), LogisticRegression(C=0.5, max_iter=5000, class_weight="balanced")
                )
                model.fit(vectors, labels)
                self._fitted = model
            return self._fitted

    def probabilities(self, text: str) -> dict[str, float]:
        """The model's probability per intent for one (scrubbed) message."""
        model = self._intent_model()
        probs = model.predict_proba(self.embedder.embed_query(text).reshape(1, -1))[0]
        return {str(c): float(p) for c, p in zip(model.classes_, probs, strict=True)}

    def by_rules(self, text: str) -> str | None:
        for intent in self.prompts.rule_order:
            combined = self._combined.get(intent)
            if combined is None:
                patterns = self.prompts.rule_patterns.get(intent, [])
                # One alternation per intent scans the text once instead of once per pattern.
                joined = "|".join(f"(?:{p.pattern})" for p in patterns) or r"(?!x)x"
                combined = self._combined[intent] = re.compile(joined, re.IGNORECASE)
            if combined.search(text):
                return intent
        return None

    def _planted_instruction(self, sentence: str) -> bool:
        """Whether a knowledge-base sentence reads as an instruction to the assistant."""
        return self.by_rules(sentence) == "prompt_injection"

    def classify(
        self, text: str, unscrubbed: str = "", follow_up: bool = False, meaning: str = ""
    ) -> Classification:
        """The intent of one (already scrubbed) message.

        `unscrubbed` is the same message before personal data was masked: hidden instructions are also
        decoded from it, because masking can break them (hex bytes look like a phone number). It is only
        read here, never stored or sent anywhere. A `follow_up` ("en kost dat iets?") means something only
        with the previous question: the model does not refuse it (the rules still do). `meaning`, when
        given, is the text whose embedding the model reads (the retrieval query, so one turn embeds once).
        """
        intent = self.by_rules(text)
        if intent:
            return Classification(intent, "rules")
        variants = decoded_variants(text)
        if unscrubbed and unscrubbed != text:
            variants += decoded_variants(unscrubbed)
        for variant in variants:
            hidden = self.by_rules(variant)
            if hidden == "abuse":
                return Classification("abuse", "decoded")
            if hidden in ("prompt_injection", "out_of_scope"):
                # An instruction someone took the trouble to encode is an injection attempt.
                return Classification("prompt_injection", "decoded")
        if not any(self.prompts.intent_examples.values()):
            return Classification("question", "default", 0.0)
        if self.method == "model" and len(self.prompts.intent_examples) > 1:
            probs = self.probabilities(meaning or text)
            top = max(probs, key=lambda k: probs[k])
            needed = self.prompts.model_thresholds.get(top)
            if follow_up and top in ("out_of_scope", "prompt_injection", "abuse"):
                needed = None
            domain = self.prompts.in_scope_terms
            if top == "out_of_scope" and domain is not None and domain.search(text):
                needed = None  # it names the work this assistant is about: a question, however short
            if top != "question" and needed is not None and probs[top] >= needed:
                return Classification(top, "model", probs[top])
            return Classification("question", "model", probs.get("question", 0.0))
        vectors = self._example_vectors()
        query = self.embedder.embed_query(text)
        best = {intent: float(np.max(matrix @ query)) for intent, matrix in vectors.items()}
        top = max(best, key=lambda k: best[k])
        in_scope = best.get("question", 0.0)
        if top != "question" and best[top] >= self.threshold and best[top] - in_scope >= self.margin:
            return Classification(top, "examples", best[top])
        return Classification("question", "examples", in_scope)
