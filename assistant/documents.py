"""The corpus items and the chunks made from them."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

Collection = Literal["article", "faq", "testimonial", "podcast_episode"]


class Source(BaseModel):
    title: str
    url: str


class Cue(BaseModel):
    """One speaker turn of a transcript, in seconds."""

    start: float
    end: float
    speaker: str
    text: str


class Document(BaseModel):
    """One knowledge-base item (article, FAQ, testimonial or podcast episode)."""

    id: str
    collection: Collection
    title: str
    slug: str
    url: str
    summary: str = ""
    sectors: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    tracks: list[str] = Field(default_factory=list)
    school_subjects: list[str] = Field(default_factory=list)
    audiences: list[str] = Field(default_factory=list)
    updated: date | None = None
    reviewed: date | None = None
    sources: list[Source] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    sample: bool = False
    body: str = ""
    # podcast episodes
    show: str = ""
    season: int | None = None
    episode: int | None = None
    hosts: list[str] = Field(default_factory=list)
    guests: list[str] = Field(default_factory=list)
    duration: float | None = None
    transcript: str = ""
    cues: list[Cue] = Field(default_factory=list)
    origin: str = ""  # file path or API address it came from


class Chunk(BaseModel):
    """A retrievable piece of a document, with everything a citation needs."""

    id: str
    doc_id: str
    collection: Collection
    title: str
    url: str
    section: str
    text: str
    start: float | None = None
    end: float | None = None
    sectors: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    sample: bool = False

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the heading path gives a section its context."""
        return f"{self.section}\n{self.text}"

    @property
    def content_hash(self) -> str:
        payload = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def to_metadata(self) -> dict[str, str | int | float | bool]:
        """Flat metadata for the vector store (lists become one flag per value, so filters work)."""
        meta: dict[str, str | int | float | bool] = {
            "doc_id": self.doc_id,
            "collection": self.collection,
            "title": self.title,
            "url": self.url,
            "section": self.section,
            "sample": self.sample,
            "hash": self.content_hash,
            "sectors": ",".join(self.sectors),
            "roles": ",".join(self.roles),
            "topics": ",".join(self.topics),
            "any_sector": not self.sectors,
            "any_role": not self.roles,
        }
        if self.start is not None:
            meta["start"] = self.start
        if self.end is not None:
            meta["end"] = self.end
        for sector in self.sectors:
            meta[f"sector_{sector}"] = True
        for role in self.roles:
            meta[f"role_{role}"] = True
        return meta

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, object]) -> Chunk:
        def split(key: str) -> list[str]:
            value = str(meta.get(key) or "")
            return [v for v in value.split(",") if v]

        start = meta.get("start")
        end = meta.get("end")
        return cls(
            id=chunk_id,
            doc_id=str(meta["doc_id"]),
            collection=meta["collection"],  # type: ignore[arg-type]
            title=str(meta["title"]),
            url=str(meta["url"]),
            section=str(meta["section"]),
            text=text,
            start=float(start) if isinstance(start, int | float) else None,
            end=float(end) if isinstance(end, int | float) else None,
            sectors=split("sectors"),
            roles=split("roles"),
            topics=split("topics"),
            sample=bool(meta.get("sample", False)),
        )
