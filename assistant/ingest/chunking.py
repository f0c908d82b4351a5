"""Cutting documents into chunks: by heading for articles, one per FAQ, time windows for transcripts."""

from __future__ import annotations

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from assistant.documents import Chunk, Document

MAX_CHARS = 1100
WINDOW_MIN_SECONDS = 45.0
WINDOW_MAX_SECONDS = 120.0

_headers = MarkdownHeaderTextSplitter(
    headers_to_split_on=[("##", "h2"), ("###", "h3"), ("####", "h4")], strip_headers=True
)
_long = RecursiveCharacterTextSplitter(
    chunk_size=MAX_CHARS, chunk_overlap=120, separators=["\n\n", "\n", ". ", " "]
)


def _chunk(doc: Document, n: int, section: str, text: str, **extra: float) -> Chunk:
    return Chunk(
        id=f"{doc.id}#{n}",
        doc_id=doc.id,
        collection=doc.collection,
        title=doc.title,
        url=doc.url,
        section=section,
        text=text.strip(),
        sectors=doc.sectors,
        roles=doc.roles,
        topics=doc.topics,
        sample=doc.sample,
        **extra,
    )


def article_chunks(doc: Document) -> list[Chunk]:
    """Heading-aware chunks; the heading path ("Title > H2 > H3") becomes the section."""
    chunks: list[Chunk] = []
    body = doc.body
    if doc.summary and doc.collection != "faq":
        body = f"{doc.summary}\n\n{body}"
    for part in _headers.split_text(body):
        path = [doc.title] + [part.metadata[h] for h in ("h2", "h3", "h4") if h in part.metadata]
        section = " > ".join(path)
        for piece in _long.split_text(part.page_content):
            if piece.strip():
                chunks.append(_chunk(doc, len(chunks), section, piece))
    return chunks


def faq_chunks(doc: Document) -> list[Chunk]:
    """A FAQ is one chunk: the question and its whole answer belong together."""
    return [_chunk(doc, 0, doc.title, f"{doc.title}\n{doc.body}")]


def transcript_chunks(doc: Document) -> list[Chunk]:
    """Speaker turns grouped into windows of roughly 45-120 seconds, keeping start and end."""
    chunks: list[Chunk] = []
    window: list[str] = []
    start = end = 0.0
    previous_speaker = ""
    for cue in doc.cues:
        if not window:
            start = cue.start
        elif cue.end - start > WINDOW_MAX_SECONDS or (
            end - start >= WINDOW_MIN_SECONDS and cue.speaker != previous_speaker
        ):
            chunks.append(_transcript_chunk(doc, len(chunks), window, start, end))
            window, start = [], cue.start
        if window and cue.speaker == previous_speaker:
            window[-1] += " " + cue.text
        else:
            window.append(f"{cue.speaker}: {cue.text}")
        previous_speaker, end = cue.speaker, cue.end
    if window:
        chunks.append(_transcript_chunk(doc, len(chunks), window, start, end))
    return chunks


def _transcript_chunk(doc: Document, n: int, lines: list[str], start: float, end: float) -> Chunk:
    section = f"{doc.title} > {clock(start)}-{clock(end)}"
    return _chunk(doc, n, section, "\n".join(lines), start=start, end=end)


def clock(second: float) -> str:
    """12:34 (or 1:02:03) for a number of seconds."""
    total = int(second)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def chunks_of(doc: Document) -> list[Chunk]:
    """The chunks of any document, by its collection."""
    if doc.collection == "faq":
        return faq_chunks(doc)
    if doc.collection == "podcast_episode":
        return transcript_chunks(doc)
    return article_chunks(doc)
