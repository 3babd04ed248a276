"""What the review pages show and how: the Jinja2 environment (autoescaped, strict), the template filters
(local times, ages, percentages, masked customer ids, URL segments) and a cluster's size-over-time chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import get_args
from urllib.parse import quote

import jinja2
from fastapi.templating import Jinja2Templates

from serving.logs import scrub
from triage.vocabulary import REVIEW_ACTIONS, TIERS, AlertStatus, GroupAlert

PACKAGE = Path(__file__).resolve().parents[1]  # serving/
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True))

# The shared vocabularies in the pages' words.
TIER_COLOURS = dict(zip(TIERS, ("红", "黄", "绿"), strict=True))
ALERTS = dict(zip(get_args(GroupAlert), ("初现", "重大"), strict=True))
ACTIONS = dict(zip(REVIEW_ACTIONS, ("确认", "更正"), strict=True))
ALERT_STATUS = dict(zip(get_args(AlertStatus), ("待处理", "已确认", "已驳回"), strict=True))


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_time(value: datetime | str | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = _as_datetime(value)
    return moment.astimezone(zone).strftime(fmt) if moment else "—"


def age(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long since, in words: 不到 1 分钟, 25 分钟, 3 小时, 2 天 5 小时."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    minutes = int(((now or datetime.now(UTC)) - moment).total_seconds() // 60)
    if minutes < 1:
        return "不到 1 分钟"
    if minutes < 60:
        return f"{minutes} 分钟"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} 小时"
    days, hours = divmod(hours, 24)
    return f"{days} 天 {hours} 小时" if hours else f"{days} 天"


def percent(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def is_past(value: datetime | str | None) -> bool:
    moment = _as_datetime(value)
    return moment is not None and moment < datetime.now(UTC)


def masked_id(value: str | None) -> str:
    """A customer id as shown: through the log scrubber (a customer id can be a phone or ID-card number)."""
    return "—" if not value else scrub(value)


def segment(value: str) -> str:
    """An id as one URL path segment (ids are the submitter's strings: "/", "?", "#" or ".." stay inside)."""
    return quote(str(value), safe="")


templates.env.filters.update(local=local_time, age=age, percent=percent, past=is_past, customer=masked_id,
                             seg=segment)
templates.env.globals.update(tier_colours=TIER_COLOURS, alerts=ALERTS, actions=ACTIONS, alert_status=ALERT_STATUS)


@dataclass(frozen=True)
class Chart:
    """An SVG step line: only numbers reach the template (the points attribute), never text."""

    width: int
    height: int
    count: int
    start: datetime
    end: datetime
    points: str


def growth_chart(times: list[datetime], width: int = 160, height: int = 36, pad: int = 3) -> Chart | None:
    """A cluster's size over time as an SVG step line: the cumulative count of members by received time."""
    if not times:
        return None
    times = sorted(times)
    start, end = times[0], times[-1]
    span = (end - start).total_seconds() or 1.0
    count = len(times)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad

    def x(moment: datetime) -> float:
        return pad + inner_w * (moment - start).total_seconds() / span

    def y(n: int) -> float:
        return pad + inner_h * (1 - n / count)

    points = [(x(start), y(0))]
    for n, moment in enumerate(times, start=1):
        points += [(x(moment), y(n - 1)), (x(moment), y(n))]
    points.append((pad + inner_w, y(count)))
    return Chart(width=width, height=height, count=count, start=start, end=end,
                 points=" ".join(f"{px:.1f},{py:.1f}" for px, py in points))
