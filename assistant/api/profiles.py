"""Partner profiles (profiles.yaml): allowed origins, retrieval filters, theme, intro and hand-off link."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from assistant.retrieval import Filters


class Theme(BaseModel):
    primary: str = "#1d3c78"
    on_primary: str = "#ffffff"
    accent: str = "#e8eef9"
    logo: str = ""


class Profile(BaseModel):
    id: str = "default"
    name: str = "Onderwijsloket"
    allowed_origins: list[str] = Field(default_factory=list)
    filters: Filters = Field(default_factory=Filters)
    theme: Theme = Field(default_factory=Theme)
    intro: dict[str, str] = Field(default_factory=dict)
    handoff_url: str = ""
    require_key: bool = False  # partner API: chat requests need `Authorization: Bearer <partner key>`


def load_profiles(path: Path) -> dict[str, Profile]:
    """All profiles by id; a missing file means one default profile."""
    if not path.exists():
        return {"default": Profile()}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: Profile(id=name, **body) for name, body in raw.items()}
