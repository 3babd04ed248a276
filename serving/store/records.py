"""What the store returns: typed records, so intake, the routes and the pages read fields, not string keys.

Frozen dataclasses (the API's response models validate them by attribute: `from_attributes`). The one JSON
value that crosses the store's boundary on purpose is a decision as it was answered, `StoredDecision`: a
retry is answered with exactly the bytes of the first answer, without validating them back into a `Decision`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from triage.schemas import Decision


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id, name and role."""

    key_id: int
    name: str
    role: str


@dataclass(frozen=True)
class KeyRecord:
    """An API key as listed: never its secret, nor its hash."""

    id: int
    name: str
    role: str
    prefix: str  # the key's first characters, to tell keys apart
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class StoredDecision:
    """A decision as stored and answered: `Decision.model_dump(mode="json")`. Accessors for what the service
    reads of it; `decision()` validates it into the model when a caller needs all of it."""

    payload: dict[str, Any]

    @classmethod
    def of(cls, decision: Decision) -> StoredDecision:
        return cls(decision.model_dump(mode="json"))

    @property
    def complaint_id(self) -> str:
        return str(self.payload["complaint_id"])

    @property
    def tier(self) -> str:
        return str(self.payload["tier"]["label"])

    @property
    def department(self) -> str:
        return str(self.payload["department"])

    def decision(self) -> Decision:
        return Decision.model_validate(self.payload)


@dataclass(frozen=True)
class StoredComplaint:
    """What an idempotent retry is compared with: the stored content's hash and the latest decision."""

    content_hash: str
    decision: StoredDecision


@dataclass(frozen=True)
class ComplaintSummary:
    """A complaint as submitted, with its current routing (the lead's correction if any, else the model's)."""

    complaint_id: str
    customer_id: str | None
    channel: str | None
    product: str | None
    amount: float | None
    received_at: datetime
    category: str
    tier: str
    department: str
    confidence: float
    needs_review: bool
    reviewed_at: datetime | None
    is_repeat: bool
    cluster_id: str | None
    group_alert: str | None
    respond_by: datetime


@dataclass(frozen=True)
class MatterSummary:
    """One matter of a customer: the complaints the repeat detector put on it, oldest first."""

    matter_id: str
    complaints: int
    complaint_ids: list[str]
    first_received_at: datetime
    last_received_at: datetime
    shared: list[str]  # what its latest repeat shares with it: names, masked references


@dataclass(frozen=True)
class DecisionHistory:
    """One decision of a complaint's audit trail."""

    decided_at: datetime
    model_version: str
    policy_version: str
    category: str
    confidence: float
    tier: str
    department: str
    rules: list[str]
    reason: str | None = None  # why a decision after the first was made, e.g. "group alert G000012"


@dataclass(frozen=True)
class Routing:
    category: str
    tier: str
    department: str


@dataclass(frozen=True)
class ReviewRecord:
    """A lead's confirmation or correction, with the routing it replaced."""

    reviewer: str
    action: str
    category: str
    tier: str
    department: str
    comment: str
    previous: Routing
    reviewed_at: datetime


@dataclass(frozen=True)
class ComplaintRecord(ComplaintSummary):
    """A complaint with everything the store knows of it."""

    submitted_by: int | None
    decision: Decision  # the latest, as answered
    history: list[DecisionHistory]  # every decision, newest first
    reviews: list[ReviewRecord]  # oldest first


@dataclass(frozen=True)
class FeedbackRow:
    """A reviewed complaint as a training row (`triage feedback export` writes these as JSON lines)."""

    complaint_id: str
    text: str
    category: str
    tier: str
    department: str
    action: str
    original_category: str
    original_tier: str
    reviewer: str
    reviewed_at: str  # ISO 8601


@dataclass(frozen=True)
class WindowComplaint:
    """A stored complaint of the similarity window, with the topic vector and model version of its first
    decision: what a restart replays into the similarity engine."""

    seq: int
    complaint_id: str
    customer_id: str | None
    received_at: datetime
    text: str
    channel: str | None
    product: str | None
    category: str
    model_version: str
    vector: np.ndarray | None
    # The text as submitted, opened from its seal: its bank-card numbers identify a matter (read, hashed, kept
    # in memory only by the similarity window), as they did when the complaint was decided.
    original: str | None = None


@dataclass(frozen=True)
class AlertReviewRecord:
    """A lead's confirmation or dismissal of a group alert."""

    action: str  # confirm | dismiss
    reviewer: str
    comment: str
    reviewed_at: datetime


@dataclass(frozen=True)
class DeliveryRecord:
    """Where an alert's webhook delivery stands."""

    attempts: int
    delivered_at: datetime | None
    next_attempt_at: datetime | None  # None once delivered
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True)
class AlertRecord:
    """A group alert as raised and stored, what a lead made of it, and its webhook delivery (None: no webhook
    was configured when it was raised)."""

    alert_id: str
    cluster_id: str
    level: str
    previous_level: str | None
    regrown: bool
    distinct_customers: int
    complaints: int
    escalated: int
    terms: list[str]
    trigger_complaint_id: str
    raised_at: datetime
    created_at: datetime
    status: str  # open | confirmed | dismissed
    reviews: list[AlertReviewRecord]
    delivery: DeliveryRecord | None


@dataclass(frozen=True)
class DismissalEntry:
    """A stored dismissal, to tell a rebuilt similarity window again (after the complaint `after_seq`)."""

    id: int
    cluster_id: str
    members: list[str]
    customers: list[str]
    after_seq: int


@dataclass(frozen=True)
class OutboxItem:
    """A webhook delivery due to be sent."""

    id: int
    alert_id: str
    event: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime


@dataclass(frozen=True)
class MemberTime:
    """When a cluster member arrived, for the cluster's size-over-time chart."""

    complaint_id: str
    received_at: datetime
    customer_id: str | None


@dataclass(frozen=True)
class ReviewFigures:
    needed: int
    reviewed: int
    corrected: int
    open: int


@dataclass(frozen=True)
class DeadlineFigures:
    due: int  # complaints whose response clock ran out
    met: int  # those routed before it did
    compliance: float | None
    open_overdue: int


@dataclass(frozen=True)
class Stats:
    """The figures of the complaints received in [start, end)."""

    start: datetime
    end: datetime
    complaints: int
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_tier: dict[str, int]
    by_department: dict[str, int]
    repeat_share: float
    group_share: float
    review: ReviewFigures
    deadlines: DeadlineFigures


@dataclass(frozen=True)
class MatterCorrectionEntry:
    """A lead's split or join of a customer's matters, as recorded."""

    id: int
    customer_id: str
    action: str  # split | join
    complaint_ids: list[str]  # as the lead named them
    moved: dict[str, str]  # {complaint id: its matter after the correction}
    after_seq: int  # the last complaint stored when it was made
    reviewer: str
    comment: str
    corrected_at: datetime
