"""Composing answers: extractive (offline, deterministic) and LLM (any OpenAI-compatible endpoint)."""
