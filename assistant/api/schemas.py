"""Request and response bodies of the public API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.pipeline import Citation, Referral, Turn

MAX_MESSAGE_CHARS = 2000


class FiltersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sectors: list[str] = Field(default_factory=list, max_length=10)
    roles: list[str] = Field(default_factory=list, max_length=10)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(description="The user's message, 1 to 2,000 characters.")
    conversation_id: str | None = Field(default=None, max_length=64)
    filters: FiltersIn | None = None
    profile: str | None = Field(default=None, max_length=64)
    channel: Literal["web", "widget", "partner", "api", "whatsapp", "cli"] = "web"

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be empty")
        if len(value) > MAX_MESSAGE_CHARS:
            raise ValueError(f"message is longer than {MAX_MESSAGE_CHARS} characters ({len(value)})")
        return value


class ChatResponse(BaseModel):
    conversation_id: str
    status: Literal["answered", "no_answer", "refused", "crisis"]
    reason: str | None
    answer: str
    citations: list[Citation]
    referrals: list[Referral]
    language: str
    timings_ms: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def from_turn(cls, turn: Turn) -> ChatResponse:
        return cls(
            conversation_id=turn.conversation_id,
            status=turn.status,
            reason=turn.reason,
            answer=turn.answer,
            citations=turn.citations,
            referrals=turn.referrals,
            language=turn.language,
            timings_ms={k: round(v, 2) for k, v in turn.timings.items()},
        )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: str = Field(min_length=1, max_length=64)
    message_index: int = Field(ge=0, le=10000)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=1000)


class FeedbackResponse(BaseModel):
    id: int
    stored: bool = True


class ErrorBody(BaseModel):
    error: str
    detail: str | list[dict[str, object]]
