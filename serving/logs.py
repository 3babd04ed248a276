"""Structured JSON logs (structlog), one request id per request, and no personal data in them.

Every string that reaches a log line passes through `scrub`: the masking of the feature pipeline (every
spelling it knows), then any run of 11 or more digits (a phone, card or ID-card number that failed its
checksum is still somebody's number; a log loses nothing by not showing it): `triage.features.pii.mask_identifier`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from triage.features.pii import mask_identifier

# Fields this service writes itself, never customer text (a model version starts with 14 digits of time).
_OWN_FIELDS = {"timestamp", "level", "logger", "request_id", "model_version", "method", "status", "ms"}


def scrub(text: str) -> str:
    return mask_identifier(text)


def scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def scrub_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's duplicate of the message, with terminal colours
    return {key: value if key in _OWN_FIELDS else scrub_value(value) for key, value in event.items()}


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for our logs and for the standard-library loggers of our dependencies."""
    shared: list = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, scrub_event,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel("WARNING")
    for noisy in ("uvicorn.access",):  # our middleware logs each request once, scrubbed
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
