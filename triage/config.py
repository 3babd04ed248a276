"""The library's settings, read from the environment with the prefix TRIAGE_ (e.g. TRIAGE_MODEL_DIR) or a `.env`
file: the model, the policy, what training reads. The service adds its own (`serving.config.ServiceSettings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")

    # ---- model and policy
    model_dir: Path = Field(default=Path("models/default"),
                            description="Model directory: where training writes, what the 'dir' source serves.")
    embedder: str = Field(default="none",
                          description="'none' (n-grams alone), 'use' or 'sentence-transformers:<local model path>'.")
    corpus: Annotated[list[Path], NoDecode] = Field(
        default=[Path("datasets/complaints.jsonl"), Path("datasets/real_style.jsonl")],
        description="Corpus files `triage init` trains on, comma-separated.")
    policy: Path | None = Field(default=None, description="Routing policy file; unset: the bundled default.")
    target_precision: float = Field(default=0.9, gt=0, le=1,
                                    description="Precision a prediction must reach not to need review.")

    @field_validator("corpus", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value


def get_settings() -> Settings:
    return Settings()
