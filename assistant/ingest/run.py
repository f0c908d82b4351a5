"""The ingest run: corpus -> chunks -> incremental, atomic index build."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assistant.documents import Chunk, Document
from assistant.ingest.chunking import chunks_of
from assistant.store import BuildReport, ChromaStore


@dataclass
class IngestResult:
    documents: int
    chunks: int
    skipped: bool
    report: BuildReport | None


def all_chunks(documents: Sequence[Document]) -> list[Chunk]:
    return [chunk for doc in documents for chunk in chunks_of(doc)]


def fingerprint(chunks: Sequence[Chunk], embedder_id: str) -> str:
    """Changes whenever any chunk (or the embedder) changes."""
    digest = hashlib.sha256(embedder_id.encode())
    for chunk in chunks:
        digest.update(chunk.id.encode())
        digest.update(chunk.content_hash.encode())
    return digest.hexdigest()[:32]


def ingest(
    documents: Sequence[Document], store: ChromaStore, rebuild: bool = False, show_progress: bool = False
) -> IngestResult:
    """Bring the index up to date with the documents; a no-op when nothing changed."""
    chunks = all_chunks(documents)
    print_ = fingerprint(chunks, store.embedder.id)
    if not rebuild and store.live_fingerprint() == print_:
        return IngestResult(len(documents), len(chunks), True, None)
    if not show_progress:
        report = store.build(chunks, print_, reuse=not rebuild)
        return IngestResult(len(documents), len(chunks), False, report)
    with Progress(
        TextColumn("[bold]index"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    ) as bar:
        task = bar.add_task("chunks", total=len(chunks))
        report = store.build(chunks, print_, progress=lambda n: bar.advance(task, n), reuse=not rebuild)
    return IngestResult(len(documents), len(chunks), False, report)
