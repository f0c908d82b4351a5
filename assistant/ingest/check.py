"""`assistant corpus check`: everything an editor can get wrong in a corpus file, named by file and field."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from assistant.documents import Document
from assistant.errors import CorpusError
from assistant.ingest.loaders import corpus_files, document_from_markdown

REQUIRED = (
    "id",
    "collection",
    "title",
    "slug",
    "url",
    "sectors",
    "roles",
    "topics",
    "updated",
    "reviewed",
    "sources",
    "sample",
)
TAXONOMY_FIELDS = ("sectors", "roles", "topics", "tracks", "school_subjects", "audiences")
PREFIX = {"article": "art-", "faq": "faq-", "testimonial": "tst-", "podcast_episode": "pod-"}
URL_PATTERN = {
    "article": "/kennisbank/artikelen/{slug}",
    "faq": "/kennisbank/veelgestelde-vragen/{slug}",
    "testimonial": "/ervaringsverhalen/{slug}",
    "podcast_episode": "/podcast/{show}/{slug}",
}
_INTERNAL_LINK = re.compile(r"\]\((/[^)\s#]+)(?:#[^)]*)?\)")
REVIEW_CYCLE = timedelta(days=365)


@dataclass
class Issue:
    level: str  # error | warning
    file: str
    message: str


@dataclass
class CheckReport:
    documents: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def counts_text(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))


def _is_web_url(url: str) -> bool:
    parsed = urlparse(url)
    return (
        parsed.scheme in ("http", "https") and bool(parsed.netloc) and "." in parsed.netloc and " " not in url
    )


def check_corpus(corpus_dir: Path, today: date | None = None) -> CheckReport:
    """Check every file of a corpus folder; errors make the corpus unusable, warnings need an editor."""
    today = today or date.today()
    report = CheckReport()
    taxonomy_path = corpus_dir / "taxonomy.yaml"
    taxonomy: dict[str, dict[str, str]] = {}
    if taxonomy_path.exists():
        taxonomy = yaml.safe_load(taxonomy_path.read_text(encoding="utf-8")) or {}
    else:
        report.errors.append(Issue("error", "taxonomy.yaml", "missing: the list of allowed tag values"))
    documents: list[tuple[str, Document]] = []
    for path in corpus_files(corpus_dir):
        name = str(path.relative_to(corpus_dir))
        try:
            meta_text = path.read_text(encoding="utf-8")
            missing = [
                f for f in REQUIRED if not re.search(rf"(?m)^{f}\s*:", meta_text.split("\n---", 2)[0] + "\n")
            ]
            if missing:
                report.errors.append(Issue("error", name, f"missing required field(s): {', '.join(missing)}"))
            doc = document_from_markdown(path, corpus_dir)
        except CorpusError as exc:
            report.errors.append(Issue("error", name, str(exc).split(": ", 1)[-1]))
            continue
        documents.append((name, doc))
    report.documents = len(documents)
    ids = Counter(doc.id for _, doc in documents)
    slugs = Counter((doc.collection, doc.slug) for _, doc in documents)
    urls = {doc.url for _, doc in documents}
    for name, doc in documents:
        report.counts[doc.collection] += 1
        _check_document(name, doc, taxonomy, ids, slugs, urls, today, report)
    return report


def _check_document(
    name: str,
    doc: Document,
    taxonomy: dict[str, dict[str, str]],
    ids: Counter[str],
    slugs: Counter[tuple[Any, str]],
    urls: set[str],
    today: date,
    report: CheckReport,
) -> None:
    def error(message: str) -> None:
        report.errors.append(Issue("error", name, message))

    if ids[doc.id] > 1:
        error(f"id: {doc.id!r} is used by more than one document")
    if slugs[(doc.collection, doc.slug)] > 1:
        error(f"slug: {doc.slug!r} is used by more than one {doc.collection}")
    if not doc.id.startswith(PREFIX[doc.collection]):
        error(f"id: {doc.id!r} must start with {PREFIX[doc.collection]!r} for a {doc.collection}")
    if Path(name).stem != doc.slug:
        error(f"slug: {doc.slug!r} differs from the file name")
    expected_url = URL_PATTERN[doc.collection].format(slug=doc.slug, show=doc.show)
    if doc.url != expected_url:
        error(f"url: {doc.url!r} should be {expected_url!r}")
    for taxonomy_field in TAXONOMY_FIELDS:
        allowed = taxonomy.get(taxonomy_field, {})
        for value in getattr(doc, taxonomy_field):
            if value not in allowed:
                error(f"{taxonomy_field}: unknown value {value!r} (see taxonomy.yaml)")
    if not doc.sources:
        error("sources: at least one public source is required")
    for source in doc.sources:
        if not _is_web_url(source.url):
            error(f"sources: {source.url!r} is not a well-formed http(s) URL")
    for link in _INTERNAL_LINK.findall(doc.body):
        if link.rstrip("/") not in urls:
            error(f"link: {link} does not resolve to a document in the corpus")
    if doc.collection in ("testimonial", "podcast_episode") and not doc.sample:
        error("sample: invented testimonials and podcast episodes must say sample: true")
    if not doc.body.strip() and doc.collection != "podcast_episode":
        error("body: empty")
    if doc.collection == "podcast_episode":
        _check_transcript(name, doc, error)
    if doc.reviewed is None or today - doc.reviewed > REVIEW_CYCLE:
        report.warnings.append(
            Issue(
                "warning",
                name,
                f"reviewed: {doc.reviewed} is more than 12 months ago; due for the yearly review",
            )
        )


def _check_transcript(name: str, doc: Document, error: object) -> None:
    assert callable(error)
    if not doc.show:
        error("show: required for a podcast episode")
    previous = -1.0
    for cue in doc.cues:
        if cue.start < previous or cue.end <= cue.start:
            error(f"transcript: timestamps do not increase at {cue.start:.3f}s")
            return
        if not cue.speaker.strip():
            error(f"transcript: cue at {cue.start:.3f}s has no named speaker")
            return
        previous = cue.start
