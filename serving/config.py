"""The service's settings: the library's (model, policy) plus where the service keeps its data, how it listens,
and its limits. Read from the environment with the prefix TRIAGE_ or a `.env` file, like the library's."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, model_validator

from triage.config import Settings
from triage.features.prepare import MAX_TEXT_CHARS

if TYPE_CHECKING:  # the serve extra's cryptography: imported where used, so `triage --help` runs without extras
    from serving.privacy import DataProtector


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
    workers: int = Field(default=1, ge=1, description="Worker processes of `triage serve` (one port); each keeps "
                         "a replica of the similarity window and decides in the store's global order.")
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
    session_idle_timeout: timedelta = Field(
        default=timedelta(minutes=30), gt=timedelta(0),
        description="A review-page session unused this long ends (seconds, or ISO 8601 such as PT30M).")
    session_lifetime: timedelta = Field(
        default=timedelta(hours=8), gt=timedelta(0),
        description="A review-page session ends this long after sign-in, however active (seconds or PT8H).")
    matter_reference_key: SecretStr | None = Field(
        default=None, description="Keys the hashes of contract and card numbers that tie a customer's complaints "
        "to one matter; unset: a random key kept in data_dir/reference.key.")
    data_key: SecretStr | None = Field(
        default=None, description="Fernet key sealing each complaint's original text (several, comma-separated: the "
        "first seals, all open); unset: a key made on first use and kept in data_dir/data.key (owner-only).")
    secure_cookies: bool = Field(default=False, description="Mark the session cookie Secure (behind HTTPS).")
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")

    # ---- backpressure: past a bound the service says so at once instead of answering ever later
    max_in_flight: int = Field(default=16, ge=1, description="Requests handled at once (the probes and /metrics "
                               "not counted); one more is answered 429 with Retry-After.")
    intake_queue: int = Field(default=256, ge=1, description="Complaints waiting to be decided (single and batch "
                              "requests together); a request that would exceed it is answered 429 with Retry-After.")
    intake_max_wait_seconds: float = Field(
        default=0.5, gt=0, description="A request is answered 429 when the complaints ahead of it would take longer "
        "than this to decide at the intake's recent pace: latency stays bounded on a slow or busy machine too.")
    retry_after_seconds: int = Field(default=1, ge=1, description="The Retry-After of a 429 or a 503 while the model "
                                     "loads.")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Request bodies larger than this are "
                                "refused with 413 while they are read, before any parsing (8 MiB).")

    # ---- group alerts delivered to a webhook (serving/alerts.py)
    alert_webhook_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s]+$",
        description="POST every group alert here (JSON, signed); unset: alerts are stored and shown, not sent.")
    alert_webhook_secret: SecretStr | None = Field(
        default=None, min_length=16, description="Shared secret of the webhook's HMAC-SHA256 signature (needed "
        "with the URL; at least 16 characters).")
    alert_webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="How long one delivery attempt "
                                                 "waits for the receiver's answer.")
    alert_webhook_retry_seconds: float = Field(default=5.0, gt=0, description="The first retry of a failed "
                                               "delivery waits this long; each next one twice as long …")
    alert_webhook_max_retry_seconds: float = Field(default=900.0, gt=0, description="… up to this; a delivery is "
                                                   "retried until the receiver answers 2xx, never dropped.")

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> ServiceSettings:
        if self.alert_webhook_url and self.alert_webhook_secret is None:
            raise ValueError("alert_webhook_url is set but alert_webhook_secret is not: every alert is signed, so "
                             "set TRIAGE_ALERT_WEBHOOK_SECRET too")
        return self

    def reference_key(self) -> bytes:
        """The matter references' key: the setting, else one made at random on first use and kept in data_dir
        (owner-only), so hashes in the store's snapshot match across restarts."""
        if self.matter_reference_key is not None:
            return self.matter_reference_key.get_secret_value().encode()
        from serving.privacy import key_file  # the serve extra's cryptography, not needed at import

        return key_file(Path(self.data_dir) / "reference.key", secrets.token_urlsafe(48).encode())

    def data_protector(self) -> DataProtector:
        """Seals original texts (data_key) and makes the references of ids (the matter-reference key)."""
        from serving.privacy import DataProtector

        return DataProtector.from_keys(self.data_key.get_secret_value() if self.data_key else None,
                                       self.reference_key(), Path(self.data_dir))

    def store_url(self) -> str:
        from serving.store.db import sqlite_url

        return self.database_url or sqlite_url(self.data_dir)


def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
