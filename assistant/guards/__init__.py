"""Input and output guardrails of the chat pipeline."""
