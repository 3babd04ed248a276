"""Query parameters shared by the API and the review pages, each bounded so that no value a client can send
reaches the database or the clock arithmetic out of range: a page's offset (SQLite and PostgreSQL take a 64-bit
OFFSET, Python's timedelta at most 999,999,999 days), an age in hours, a day or moment of the figures.

Out of bounds is a 422 that names the parameter and its bounds, never a 500."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from pydantic import PlainValidator, TypeAdapter, ValidationError

MAX_PAGE_SIZE = 200
MAX_OFFSET = 1_000_000_000  # far past any queue; well inside a 64-bit OFFSET
MAX_AGE_HOURS = 1_000_000.0  # ~114 years: past any complaint (received_at is from 2000 on)
# The figures' period: complaints are received from 2000 on (triage.schemas.EARLIEST_RECEIVED); a bound far on
# both sides of that keeps every date and its bank-time midnight representable.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2199, 12, 31)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page (1–{MAX_PAGE_SIZE}).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip (0–{MAX_OFFSET:,}).")]
MinAgeHours = Annotated[float | None, Query(ge=0, le=MAX_AGE_HOURS, allow_inf_nan=False,
                                            description="Received at least this many hours ago.")]
MaxAgeHours = Annotated[float | None, Query(ge=0, le=MAX_AGE_HOURS, allow_inf_nan=False,
                                            description="Received at most this many hours ago.")]

# Key ids are database integers: past 32 bits (PostgreSQL's integer) no key can have it, and the query would fail
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's id (GET /v1/admin/keys).")]

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = TypeAdapter(datetime)


def day_or_moment(value: object) -> date | datetime:
    """An ISO 8601 date (a whole day) or date and time, within EARLIEST_DAY..LATEST_DAY. A date stays a date so
    that the caller can tell `to=2025-10-31` (the whole of the 31st) from `to=2025-10-31T00:00` (its start)."""
    if isinstance(value, date):
        parsed: date | datetime = value
    elif isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date (YYYY-MM-DD)") from None
    else:
        try:
            parsed = _DATETIME.validate_python(value)
        except ValidationError:
            raise ValueError(f"{value!r} is neither an ISO 8601 date (2025-10-31) nor a date and time "
                             "(2025-10-31T18:00:00+08:00)") from None
    day = parsed.date() if isinstance(parsed, datetime) else parsed
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"{value!r} is outside {EARLIEST_DAY} to {LATEST_DAY}")
    return parsed


DayOrMoment = Annotated[date | datetime, PlainValidator(day_or_moment, json_schema_input_type=date | datetime)]


def period_start(value: date | datetime, zone: ZoneInfo) -> datetime:
    """The first instant of a period: a date's bank-time midnight; a time without a zone is bank time."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return datetime.combine(value, time(), tzinfo=zone)


def period_end(value: date | datetime, zone: ZoneInfo) -> datetime:
    """The first instant after a period (it is half-open): a date includes that whole day, so its end is the next
    day's bank-time midnight; a date and time is that instant."""
    if isinstance(value, datetime):
        return period_start(value, zone)
    return datetime.combine(value + timedelta(days=1), time(), tzinfo=zone)
