"""The HTTP edge: FastAPI routes over the assistant."""
