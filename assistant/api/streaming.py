"""Cutting a finished answer into pieces for streaming, the same for every composer and endpoint."""

from __future__ import annotations


def pieces(text: str, size: int = 24) -> list[str]:
    """Word-aligned pieces of about `size` characters that join back to exactly `text`."""
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) > size and current:
            out.append(current + " ")
            current = word
        else:
            current = candidate
    if current:
        out.append(current)
    return out
