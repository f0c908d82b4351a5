"""The Onderwijsloket assistant: cited answers for people moving into Dutch education.

The public surface is small: build an `Assistant` from `Settings` and `ask` it; everything else is internal.
"""

from assistant.config import Settings, get_settings
from assistant.pipeline import Citation, Referral, Turn
from assistant.service import Assistant

__all__ = ["Assistant", "Citation", "Referral", "Settings", "Turn", "get_settings"]
