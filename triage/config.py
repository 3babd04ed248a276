"""Settings, read from the environment with the prefix TRIAGE_ (e.g. TRIAGE_MODEL_DIR)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")

    model_dir: Path = Path("models/default")
    embedder: str = "use"  # or "sentence-transformers:<local model path>"
    corpus: Path = Path("datasets/complaints.jsonl")
    policy: Path | None = None  # None: the bundled default policy
    target_precision: float = 0.9


def get_settings() -> Settings:
    return Settings()
