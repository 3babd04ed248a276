"""Pydantic models shared by the CLI, the MLflow wrapper, replay and the API."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from triage.vocabulary import BANK_TIMEZONE, Channel, GroupAlert, Tier

# Clocks are counted on the official working calendar: a time far outside it is a typo, not a complaint.
EARLIEST_RECEIVED = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)  # clock skew between the intake system and us



class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, description="The complaint as the customer wrote it. Accepted whole or refused, "
                      "never cut: the service refuses (413) a text longer than its limit once normalised (NFKC).")
    # Ids appear in URL paths (/v1/complaints/{id}): no slashes, spaces or other separators.
    complaint_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:\-]{1,128}$",
                                     description="Your id: letters, digits and . _ : - (at most 128). "
                                                 "Omitted: the service assigns one.")
    customer_id: str | None = Field(default=None, pattern=r"^[^/?#\s]{1,128}$",
                                    description="The customer's id in your systems (no / ? # or spaces).")
    channel: Channel | None = None
    product: str | None = Field(default=None, max_length=64, description="e.g. 信用卡, 消费贷, 房贷, 催收.")
    received_at: datetime | None = Field(default=None, description="When the bank received it: an ISO 8601 string "
                                         "(2025-10-31T18:00:00+08:00), not a number; without a zone it is bank time "
                                         f"({BANK_TIMEZONE}), and checked as such. Omitted: now.")
    # strict: a JSON number; true or "12" is refused, not read as 1 or 12
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False, strict=True,
                                 description="Amount in dispute, in yuan: a number (not a string or boolean).")

    @field_validator("text")
    @classmethod
    def _readable(cls, text: str) -> str:
        # NUL and other control characters cannot be stored everywhere (PostgreSQL refuses NUL) and are never
        # part of what a customer wrote; a text of only invisible characters is empty.
        control = sorted({f"U+{ord(ch):04X}" for ch in text
                          if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"})
        if control:
            raise ValueError(f"text contains control characters ({', '.join(control[:5])})")
        if all(unicodedata.category(ch)[0] in "ZC" for ch in text):
            raise ValueError("text has no visible characters")
        return text

    @field_validator("received_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # pydantic would read 1700000000 (or "1700000000") as seconds since 1970: a unix time is not what the
        # contract says, and an intake system that sends one has a bug we should not guess around.
        if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise ValueError("received_at must be an ISO 8601 string such as 2025-10-31T18:00:00+08:00, "
                             "not a number")
        return value

    @field_validator("received_at")
    @classmethod
    def _plausible_time(cls, moment: datetime | None, info: ValidationInfo) -> datetime | None:
        if moment is None:
            return None
        zone = (info.context or {}).get("zone") or ZoneInfo(BANK_TIMEZONE)
        problem = received_at_problem(moment, zone)
        if problem:
            raise ValueError(problem)
        return moment


def table_amount(value: Any) -> Any:
    """An amount from a CSV cell, which has no types: "12.5" is read as 12.5 there (and only there; the API
    takes a JSON number). What is not a number is left for ComplaintIn to refuse by name."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return value


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def received_at_problem(moment: datetime, zone: tzinfo) -> str | None:
    """Why a received_at cannot be a complaint's (None: it can). A time without a zone is bank time (`zone`),
    so it is checked as the instant it will be stored as."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    if aware < EARLIEST_RECEIVED:
        return f"received_at {moment.isoformat()} is before {EARLIEST_RECEIVED:%Y-%m-%d} (UTC)"
    if aware > datetime.now(UTC) + FUTURE_TOLERANCE:
        return f"received_at {moment.isoformat()} is in the future"
    return None


class LabelProbability(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    """What the models say about one complaint (the routing policy builds on this)."""

    category: str
    confidence: float
    top_categories: list[LabelProbability]
    tier: str | None = None
    tier_confidence: float | None = None
    tier_probabilities: dict[str, float] | None = None
    needs_review: bool
    review_reasons: list[str]
    language: str
    truncated: bool
    masked_text: str
    model_version: str


class SimilarityFlags(BaseModel):
    """The part of the similarity layer's findings that the routing policy acts on."""

    repeat_count: int = Field(default=1, ge=1, description="This is the Nth complaint on this matter.")
    group_alert: GroupAlert | None = None
    group_customers: int = Field(default=0, ge=0)


class RelatedComplaint(BaseModel):
    complaint_id: str
    score: float
    received_at: datetime


class RepeatInfo(BaseModel):
    is_repeat: bool = False
    repeat_count: int = Field(default=1, ge=1, description="This is the Nth complaint on this matter.")
    matter_id: str | None = Field(default=None, description="The first complaint on the matter.")
    related: list[RelatedComplaint] = Field(default=[], description="Earlier complaints on the matter, best first.")
    new_facts: list[str] = Field(default=[], description="What this complaint adds to the earlier ones: "
                                 "amounts, dates, numbers, events. Empty on a repeat: may be merged.")
    shared: list[str] = Field(default=[], description="Why it is a repeat: the names (estate, branch, "
                              "company …) and references (masked) it shares with the matter's complaints.")


class GroupInfo(BaseModel):
    cluster_id: str | None = None
    cluster_size: int = 0
    distinct_customers: int = 0
    alert: GroupAlert | None = None


class CoordinatedInfo(BaseModel):
    """Near-identical texts from other customers (a copy-paste campaign)."""

    linked: list[str] = []
    count: int = Field(default=1, description="Complaints in the campaign, this one included.")


class SharedTermInfo(BaseModel):
    """A term that makes an alerted cluster one matter: who uses it now against what its past predicted."""

    term: str
    customers: int = Field(description="Distinct customers who used it in the period it burst in.")
    expected: float = Field(description="Complaints with it that its share of the earlier stream predicted.")
    growth: float | None = Field(default=None, description="customers / expected.")


class ClusterSummary(BaseModel):
    """A group cluster as the similarity engine summarises it (`SimilarityEngine.clusters()`, `cluster()`,
    `alert_history()` give these fields as JSON-ready dicts; the service reads them through this model)."""

    model_config = ConfigDict(extra="allow")  # summaries stored by a later version may carry more

    cluster_id: str
    label: list[str] = Field(description="Keywords that tell the cluster apart from the rest of the window.")
    terms: list[SharedTermInfo] = Field(default=[], description="An alerted cluster's shared terms: what makes it "
                                        "one matter (empty for a topic cluster, which never alerts).")
    size: int = Field(description="Members in the window now.")
    distinct_customers: int
    peak_distinct_customers: int | None = None
    total_members: int | None = Field(default=None, description="Expired members included.")
    channels: dict[str, int] = {}
    products: dict[str, int] = {}
    first_seen: str
    last_seen: str
    growth: float = Field(description="An alerted cluster's: the least growth of its shared terms; a topic "
                          "cluster's: its rate in the last spike window over the rate before it.")
    alert: GroupAlert | None
    dismissed: bool = Field(default=False, description="A lead dismissed its alert as not one incident; it alerts "
                            "again only when it grows.")
    first_alert_at: str | None = None
    representative: str | None = None
    merged_from: list[str] = []
    members: list[str] = Field(description="Complaint ids of every member, expired ones too.")


class GroupAlertRaised(BaseModel):
    """A cluster's alert, the moment it is raised: first as `emerging`, again when it becomes `major`, and
    again when a dismissed cluster has grown (`regrown`). What the serving shell stores, delivers and acts on:
    every complaint in `members` is escalated (`TriageService.escalate_group`)."""

    cluster_id: str
    level: GroupAlert
    previous_level: GroupAlert | None = Field(description="The level announced before (None: a first alert, "
                                              "or a dismissed cluster that grew).")
    regrown: bool = Field(default=False, description="A dismissed cluster that grew enough to alert again.")
    distinct_customers: int
    members: list[str] = Field(description="Complaint ids of every member, expired ones too, in arrival order.")
    terms: list[str] = Field(default=[], description="The shared terms that make it one matter.")
    trigger: str = Field(description="The complaint whose arrival raised it.")
    raised_at: datetime = Field(description="That complaint's received_at.")


class SimilarityResult(BaseModel):
    repeat: RepeatInfo = RepeatInfo()
    group: GroupInfo = GroupInfo()
    coordinated: CoordinatedInfo = CoordinatedInfo()

    def flags(self) -> SimilarityFlags:
        return SimilarityFlags(repeat_count=self.repeat.repeat_count, group_alert=self.group.alert,
                               group_customers=self.group.distinct_customers)


class Reason(BaseModel):
    rule: str
    description: str
    evidence: list[str] = []


class SignalOut(BaseModel):
    kind: str
    evidence: str
    start: int
    end: int
    value: float | None = None


class TierDecision(BaseModel):
    label: Tier
    name: str
    model_label: str | None
    model_confidence: float | None
    reasons: list[Reason]


class Escalation(BaseModel):
    target: str
    reason: str


class Clocks(BaseModel):
    register_by: datetime
    acknowledge_by: datetime
    respond_by: datetime
    investigate_by: datetime
    investigate_extended_by: datetime
    decide_by: datetime


class CodeOut(BaseModel):
    code: str
    name: str


class RegulatoryCodes(BaseModel):
    channel: CodeOut
    business: CodeOut
    cause: CodeOut


class Decision(BaseModel):
    """The routing decision for one complaint."""

    complaint_id: str | None
    customer_id: str | None
    received_at: datetime
    channel: str | None
    product: str | None
    category: str
    category_confidence: float
    top_categories: list[LabelProbability]
    tier: TierDecision
    department: str
    co_departments: list[str]
    escalations: list[Escalation]
    amount: float | None
    approval_level: str | None
    clocks: Clocks
    codes: RegulatoryCodes
    signals: list[SignalOut]
    repeat: RepeatInfo
    group: GroupInfo
    coordinated: CoordinatedInfo
    needs_review: bool
    review_reasons: list[str]
    warnings: list[str]
    language: str
    truncated: bool
    masked_text: str
    model_version: str
    policy_version: str


def validation_problems(errors: ValidationError | list[dict[str, Any]], separator: str = "; ",
                        locations: bool = True) -> str:
    """Pydantic's validation errors in one line, each as `field.path: message` (or the message alone): what
    the CLI, replay, the batch endpoint and the review pages say about input they refuse."""
    items = errors.errors() if isinstance(errors, ValidationError) else errors
    return separator.join(f"{'.'.join(map(str, e['loc'])) or 'item'}: {problem_message(e)}" if locations
                          else problem_message(e) for e in items)


def problem_message(error: Any) -> str:
    """One validation error's message, in words that say what is wrong where pydantic's do not."""
    value = error.get("input")
    if error.get("type") == "string_unicode" and isinstance(value, str):
        halves = sorted({f"U+{ord(ch):04X}" for ch in value if 0xD800 <= ord(ch) <= 0xDFFF})
        if halves:  # JSON's "\ud800" without its pair: pydantic says only "unable to parse raw data"
            return (f"not valid Unicode text: it holds a lone UTF-16 surrogate ({', '.join(halves[:5])}); send "
                    "whole characters (a surrogate pair, or the character itself)")
    return str(error.get("msg", "invalid"))
