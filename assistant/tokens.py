"""Words, stems and sentences of Dutch (and English) text, shared by retrieval, composing and checks."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"[0-9a-zà-ÿ]+(?:[-'][0-9a-zà-ÿ]+)*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9\"'(\[])")
_ABBREVIATIONS = (
    "bijv.",
    "bv.",
    "o.a.",
    "t/m",
    "m.b.v.",
    "d.w.z.",
    "e.d.",
    "enz.",
    "ca.",
    "nr.",
    "incl.",
    "excl.",
    "art.",
    "max.",
    "min.",
)

STOPWORDS = frozenset(
    [
        "aan",
        "al",
        "alle",
        "als",
        "alsof",
        "also",
        "am",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "ben",
        "bent",
        "bij",
        "but",
        "by",
        "can",
        "daar",
        "dan",
        "dat",
        "de",
        "deze",
        "die",
        "dit",
        "do",
        "door",
        "een",
        "en",
        "er",
        "for",
        "from",
        "had",
        "heb",
        "hebben",
        "heeft",
        "het",
        "hier",
        "hij",
        "hoe",
        "hun",
        "i",
        "ik",
        "in",
        "is",
        "it",
        "je",
        "jij",
        "jou",
        "jouw",
        "kan",
        "kun",
        "kunnen",
        "maar",
        "me",
        "mee",
        "met",
        "mij",
        "mijn",
        "moet",
        "moeten",
        "na",
        "naar",
        "niet",
        "nog",
        "nu",
        "of",
        "om",
        "on",
        "ons",
        "ook",
        "op",
        "or",
        "over",
        "te",
        "the",
        "then",
        "there",
        "this",
        "to",
        "tot",
        "u",
        "uit",
        "van",
        "veel",
        "voor",
        "wat",
        "we",
        "welke",
        "wie",
        "wij",
        "wil",
        "will",
        "with",
        "worden",
        "wordt",
        "would",
        "you",
        "your",
        "zal",
        "ze",
        "zich",
        "zij",
        "zijn",
        "zo",
        "zou",
    ]
)

_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe: one per thread.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("dutch")
    return stemmer


def words(text: str) -> list[str]:
    """Lower-cased words, hyphenated compounds kept together and also split."""
    found: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        found.append(word)
        if "-" in word:
            found.extend(part for part in word.split("-") if part)
            found.append(word.replace("-", ""))
    return found


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def stems(text: str) -> list[str]:
    """Stemmed content words (stop words dropped): the unit of lexical matching."""
    return [_stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph of prose; list items and lines count as their own sentences."""
    result: list[str] = []
    for line in re.split(r"\n+", text):
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).strip()
        if not line:
            continue
        protected = line
        for i, abbr in enumerate(_ABBREVIATIONS):
            protected = protected.replace(abbr, f"\x00{i}\x00")
        for part in _SENTENCE_END.split(protected):
            for i, abbr in enumerate(_ABBREVIATIONS):
                part = part.replace(f"\x00{i}\x00", abbr)
            if part.strip():
                result.append(part.strip())
    return result
