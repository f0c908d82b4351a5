"""Loaders per format: markdown with YAML front matter, and WebVTT transcripts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from assistant.documents import Cue, Document
from assistant.errors import CorpusError

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.DOTALL)
_TIMING = re.compile(r"^(?P<start>(?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+(?P<end>(?:\d+:)?\d{2}:\d{2}\.\d{3})")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+(?P<name>[^>]+)>(?P<text>.*?)(?:</v>)?$", re.DOTALL)


def split_front_matter(text: str, origin: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter and the body of a markdown file."""
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        raise CorpusError(f"{origin}: no YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(f"{origin}: front matter is not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise CorpusError(f"{origin}: front matter must be a mapping")
    return meta, match.group(2).strip()


def seconds(timestamp: str) -> float:
    """WebVTT timestamp (hh:mm:ss.mmm or mm:ss.mmm) in seconds."""
    parts = [float(p) for p in timestamp.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def vtt_blocks(text: str, timing: re.Pattern[str] = _TIMING) -> Iterator[tuple[re.Match[str], str]]:
    """Each cue of a WebVTT text as its timing line's match and its payload lines joined by spaces."""
    lines = text.replace("\r\n", "\n").split("\n")
    i = 1
    while i < len(lines):
        found = timing.match(lines[i].strip())
        i += 1
        if not found:
            continue
        payload: list[str] = []
        while i < len(lines) and lines[i].strip():
            payload.append(lines[i].strip())
            i += 1
        yield found, " ".join(payload)


def parse_vtt(text: str, origin: str) -> list[Cue]:
    """Cues of a WebVTT transcript; every cue must name its speaker with a voice tag."""
    if not text.startswith("WEBVTT"):
        raise CorpusError(f"{origin}: a WebVTT file must start with 'WEBVTT'")
    cues: list[Cue] = []
    for timing, body in vtt_blocks(text):
        start, end = seconds(timing["start"]), seconds(timing["end"])
        voice = _VOICE.match(body)
        if not voice:
            raise CorpusError(f"{origin}: cue at {timing['start']} has no speaker voice tag (<v Name>)")
        clean = re.sub(r"</?[^>]+>", "", voice["text"]).strip()
        cues.append(Cue(start=start, end=end, speaker=voice["name"].strip(), text=clean))
    if not cues:
        raise CorpusError(f"{origin}: transcript has no cues")
    return cues


def document_from_markdown(path: Path, corpus_dir: Path) -> Document:
    """One corpus file as a Document (a podcast episode also reads its transcript)."""
    origin = str(path.relative_to(corpus_dir.parent) if path.is_relative_to(corpus_dir.parent) else path)
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), origin)
    cues: list[Cue] = []
    if meta.get("collection") == "podcast_episode":
        transcript = meta.get("transcript")
        if not transcript:
            raise CorpusError(f"{origin}: field 'transcript' is required for a podcast episode")
        vtt = path.parent / str(transcript)
        if not vtt.exists():
            raise CorpusError(f"{origin}: transcript file {transcript} not found")
        cues = parse_vtt(vtt.read_text(encoding="utf-8"), str(vtt.name))
    try:
        return Document(**{**meta, "body": body, "cues": cues, "origin": origin})
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) + f" ({err['msg']})" for err in exc.errors())
        raise CorpusError(f"{origin}: invalid field(s): {fields}") from exc


def corpus_files(corpus_dir: Path) -> Iterator[Path]:
    """Every document file of the corpus, in a stable order."""
    for path in sorted(corpus_dir.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        yield path


def load_corpus(corpus_dir: Path) -> list[Document]:
    """All documents of a corpus folder; the first unreadable file raises a CorpusError."""
    return [document_from_markdown(path, corpus_dir) for path in corpus_files(corpus_dir)]
