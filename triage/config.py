"""The library's settings, read from the environment with the prefix TRIAGE_ (e.g. TRIAGE_MODEL_DIR) or a `.env`
file: the model, the policy, what training reads. The service adds its own (`serving.config.ServiceSettings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")

    # ---- model and policy
    model_dir: Path = Field(default=Path("models/default"),
                            description="Model directory: where training writes, what the 'dir' source serves.")
    embedder: str = Field(default="use", description="'use' or 'sentence-transformers:<local model path>'.")
    corpus: Path = Field(default=Path("datasets/complaints.jsonl"), description="Corpus `triage init` trains on.")
    policy: Path | None = Field(default=None, description="Routing policy file; unset: the bundled default.")
    target_precision: float = Field(default=0.9,
                                    description="Precision a prediction must reach not to need review.")


def get_settings() -> Settings:
    return Settings()
