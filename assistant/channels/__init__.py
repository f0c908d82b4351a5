"""Channels that carry the assistant's answers beyond the web widget (WhatsApp)."""
