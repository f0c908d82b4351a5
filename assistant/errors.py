"""Errors with their audience: developer mistakes apart from run-time failures."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of the assistant's own errors."""

    retryable = False


class ConfigurationError(AssistantError):
    """A setting is missing or inconsistent (a developer or operator must fix it)."""


class CorpusError(AssistantError):
    """A corpus file cannot be read; the message names the file and field."""


class IndexNotReadyError(AssistantError):
    """No complete index is available yet: run `assistant ingest`."""


class UpstreamError(AssistantError):
    """An outside service (LLM, embeddings endpoint, Graph API) failed."""

    retryable = True


class TurnCancelled(AssistantError):
    """The visitor left before the answer was ready (a closed stream): the remaining work is skipped."""
