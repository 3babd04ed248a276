"""The service's settings: the library's (model, policy) plus where the service keeps its data, how it listens,
and its limits. Read from the environment with the prefix TRIAGE_ or a `.env` file, like the library's."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from serving.privacy import DataProtector
from triage.config import Settings
from triage.features.prepare import MAX_TEXT_CHARS


class ServiceSettings(Settings):
    # ---- which model is served
    model_source: Literal["champion", "dir"] = Field(
        default="champion", description="Serve the MLflow model complaint-triage@champion, or the one in model_dir.")

    # ---- service
    data_dir: Path = Field(default=Path("data"),
                           description="Holds the SQLite store, the similarity snapshot, the session secret.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL, e.g. "
                                     "postgresql+psycopg://user:pw@host/db; unset: SQLite in data_dir.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="FULL: a committed complaint survives a power cut; NORMAL: a process crash.")
    host: str = Field(default="127.0.0.1", description="Address `triage serve` binds.")
    port: int = Field(default=8000, description="Port `triage serve` binds.")
    # One limit: the model reads at most MAX_TEXT_CHARS characters, so a higher setting would accept texts it
    # then truncates; a lower one refuses more.
    max_text_chars: int = Field(default=MAX_TEXT_CHARS, ge=1, le=MAX_TEXT_CHARS,
                                description="Longer texts are refused with 413 (at most 20000, what the model reads).")
    max_batch: int = Field(default=500, description="Most complaints in one batch request (more: 413).")
    micro_batch: int = Field(default=64, description="Single complaints arriving together are decided together, "
                             "up to this many (one encode); 0 or 1: one at a time.")
    micro_batch_wait_ms: float = Field(default=0.0, description="How long the first of a micro-batch waits for "
                                       "company; 0: take what has arrived.")
    session_secret: str | None = Field(default=None, description="Signs the review pages' session cookie; "
                                       "unset: a random secret kept in data_dir/session.key.")
    data_key: SecretStr | None = Field(
        default=None, description="Fernet key sealing each complaint's original text (several, comma-separated: the "
        "first seals, all open); unset: a key made on first use and kept in data_dir/data.key (owner-only).")
    secure_cookies: bool = Field(default=False, description="Mark the session cookie Secure (behind HTTPS).")
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")

    def data_protector(self) -> DataProtector:
        """Seals original texts (data_key) and makes the references of ids (keyed by data_dir/reference.key)."""
        return DataProtector.from_keys(self.data_key.get_secret_value() if self.data_key else None,
                                       None, Path(self.data_dir))

    def store_url(self) -> str:
        from serving.store.db import sqlite_url

        return self.database_url or sqlite_url(self.data_dir)


def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
