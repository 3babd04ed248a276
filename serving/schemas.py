"""Request and response bodies of the API (the Decision itself is the library's, in triage.schemas). Responses
are validated from the store's records by attribute (`from_attributes`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from serving.roles import Role
from triage.schemas import ClusterSummary, Decision
from triage.vocabulary import AlertAction, AlertStatus, GroupAlert, ReviewAction, Tier


class ErrorOut(BaseModel):
    detail: str = Field(description="What was wrong, in words.")


_DESCRIBED = {400: "Bad request", 401: "No or an unknown API key", 403: "The key's role may not do this",
              404: "Not found", 409: "Conflict", 413: "Too large",
              429: "Busy: a bound on requests in flight or complaints waiting is reached; retry after Retry-After",
              500: "Not stored: nothing was accepted", 503: "The model is not loaded yet"}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation's OpenAPI entry: these error statuses, each an ErrorOut."""
    return {code: {"model": ErrorOut, "description": _DESCRIBED[code]} for code in codes}


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    complaints: list[Any] = Field(
        description="Up to 500 complaints, each as for POST /v1/complaints; each is validated on its own.")


class BatchItemOut(BaseModel):
    index: int
    status: int = Field(description="201 stored, 200 idempotent retry, 409 id conflict, 413 text too long, "
                                    "422 invalid")
    complaint_id: str | None = None
    decision: Decision | None = None
    error: str | None = None


class BatchOut(BaseModel):
    accepted: int
    failed: int
    items: list[BatchItemOut]


class ComplaintSummary(BaseModel):
    complaint_id: str
    customer_id: str | None
    channel: str | None
    product: str | None
    amount: float | None
    received_at: datetime
    category: str = Field(description="Current routing: the lead's correction if any, else the model's.")
    tier: Tier
    department: str
    confidence: float
    needs_review: bool
    reviewed_at: datetime | None
    is_repeat: bool
    cluster_id: str | None
    group_alert: str | None
    respond_by: datetime


class DecisionHistory(BaseModel):
    decided_at: datetime
    model_version: str
    policy_version: str
    category: str
    confidence: float
    tier: Tier
    department: str
    rules: list[str]
    reason: str | None = Field(default=None, description="Why a decision after the first was made: 'group alert "
                               "G000012' (its cluster alerted), 'group alert G000012 dismissed' (a lead dismissed it).")


class RoutingOut(BaseModel):
    category: str
    tier: Tier
    department: str


class ReviewOut(BaseModel):
    reviewer: str
    action: ReviewAction
    category: str
    tier: Tier
    department: str
    comment: str
    previous: RoutingOut = Field(description="The routing the review replaced.")
    reviewed_at: datetime


class ComplaintRecord(ComplaintSummary):
    decision: Decision = Field(description="The latest decision, as returned when the complaint was submitted.")
    history: list[DecisionHistory] = Field(description="Every decision on the complaint, newest first.")
    reviews: list[ReviewOut]


class ComplaintPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ComplaintSummary]


class MatterSummary(BaseModel):
    """One matter of a customer: the complaints the repeat detector put on it. The 3rd on a matter (not the
    customer's 3rd complaint) goes to a supervisor."""

    matter_id: str = Field(description="The first complaint on the matter.")
    complaints: int = Field(description="Complaints on the matter.")
    complaint_ids: list[str] = Field(description="Oldest first.")
    first_received_at: datetime
    last_received_at: datetime
    shared: list[str] = Field(default=[], description="What its latest repeat shares with the matter: names of "
                              "estates, branches, companies …, references masked.")


class CustomerComplaints(ComplaintPage):
    matters: list[MatterSummary] = Field(description="All the customer's complaints (not only this page) by "
                                         "matter, the matter with the latest complaint first.")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    action: ReviewAction
    category: str | None = None
    tier: Tier | None = None
    department: str | None = None
    comment: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _correction_changes_something(self) -> ReviewIn:
        if self.action == "correct" and not (self.category or self.tier or self.department):
            raise ValueError("a correction names at least one of category, tier, department")
        if self.action == "confirm" and (self.category or self.tier or self.department):
            raise ValueError("a confirmation takes no category, tier or department; use action 'correct'")
        return self


class AlertReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    action: AlertAction = Field(description="confirm: one incident, the escalations stand; dismiss: not one "
                                "incident — the escalations it added are taken back and the cluster alerts again only "
                                "when it grows.")
    comment: str = Field("", max_length=2000)


class AlertReviewOut(BaseModel):
    action: AlertAction
    reviewer: str
    comment: str
    reviewed_at: datetime


class DeliveryOut(BaseModel):
    attempts: int
    delivered_at: datetime | None = Field(description="When the webhook answered 2xx; null while pending.")
    next_attempt_at: datetime | None = Field(description="When it is tried again (null once delivered).")
    last_status: int | None = Field(description="HTTP status of the last attempt (null: no answer).")
    last_error: str | None


class AlertOut(BaseModel):
    """A group alert as raised, what a lead made of it and its webhook delivery."""

    alert_id: str = Field(description="Also the webhook's Idempotency-Key.")
    cluster_id: str
    level: GroupAlert
    previous_level: GroupAlert | None
    regrown: bool = Field(description="A dismissed cluster that grew enough to alert again.")
    distinct_customers: int
    complaints: int = Field(description="Complaints in the cluster when it was raised.")
    escalated: int = Field(description="Complaints decided before it that it escalated.")
    terms: list[str]
    trigger_complaint_id: str
    raised_at: datetime = Field(description="received_at of the complaint that raised it.")
    created_at: datetime
    status: AlertStatus
    reviews: list[AlertReviewOut]
    delivery: DeliveryOut | None = Field(description="null: no webhook was configured when it was raised.")


class ClustersOut(BaseModel):
    active: list[ClusterSummary] = Field(description="Clusters of at least two complaints in the group window, "
                                                     "alerts first.")
    alerts: list[ClusterSummary] = Field(description="Every cluster that ever alerted, newest first (kept in the "
                                                     "store).")
    raised: list[AlertOut] = Field(default=[], description="The alerts raised (a cluster alerts as emerging, again "
                                   "as major, again when it grew after a dismissal), newest first, at most 200: "
                                   "status, reviews, webhook delivery.")


class ReviewFiguresOut(BaseModel):
    needed: int
    reviewed: int
    corrected: int
    open: int


class DeadlinesOut(BaseModel):
    due: int = Field(description="Complaints whose response clock ran out.")
    met: int = Field(description="Those routed before it did.")
    compliance: float | None
    open_overdue: int


class StatsOut(BaseModel):
    from_: datetime = Field(validation_alias="start", serialization_alias="from",
                            description="The first instant counted (bank time).")
    to: datetime = Field(validation_alias="end", description="The first instant not counted (bank time): a date-only "
                         "`to` is the midnight after that day.")

    @computed_field(description="The period in words: from ≤ received_at < to.")  # type: ignore[prop-decorator]
    @property
    def interval(self) -> str:
        return f"{self.from_.isoformat()} <= received_at < {self.to.isoformat()}"

    complaints: int
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_tier: dict[str, int]
    by_department: dict[str, int]
    repeat_share: float
    group_share: float = Field(description="Share of complaints in a cluster that alerted.")
    review: ReviewFiguresOut
    deadlines: DeadlinesOut


class ModelOut(BaseModel):
    model_version: str
    source: str
    registered_version: str | None
    loaded_at: datetime
    trained_at: str | None
    train_rows: int | None
    categories: list[str]
    metrics: dict[str, Any]
    policy_version: str


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyOut(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret: shown once, only its hash is stored.")


class MatterSplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    complaint_id: str = Field(min_length=1, max_length=128,
                              description="The complaint to take off its matter: it starts a matter of its own.")
    comment: str = Field("", max_length=2000, description="Why (kept with the correction).")


class MatterJoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    matters: list[str] = Field(min_length=2, max_length=50,
                               description="The matters to make one: each a matter id or the id of any complaint "
                                           "on it. The joined matter keeps the id of the earliest.")
    comment: str = Field("", max_length=2000, description="Why (kept with the correction).")

    @model_validator(mode="after")
    def _each_once(self) -> MatterJoinIn:
        if any(not m.strip() for m in self.matters):
            raise ValueError("matters: an empty id")
        if len(set(self.matters)) != len(self.matters):
            raise ValueError("matters: each matter is named once")
        return self


class MatterCorrectionOut(BaseModel):
    """A lead's split or join of a customer's matters: who, when, what they named, what moved."""

    id: int
    customer_id: str
    action: Literal["split", "join"]
    complaint_ids: list[str] = Field(description="As the lead named them.")
    moved: dict[str, str] = Field(description="The complaints whose matter changed, with their matter now.")
    reviewer: str
    comment: str
    corrected_at: datetime


class MattersCorrected(BaseModel):
    correction: MatterCorrectionOut
    matters: list[MatterSummary] = Field(description="The customer's matters after the correction, the matter "
                                                     "with the latest complaint first.")


class CustomerMatters(BaseModel):
    matters: list[MatterSummary] = Field(description="The customer's matters, the latest activity first.")
    corrections: list[MatterCorrectionOut] = Field(description="Every split and join of them, oldest first.")


class OriginalReadOut(BaseModel):
    reader: str = Field(description="The name of the API key that read the original.")
    key_id: int | None
    read_at: datetime


class OriginalOut(BaseModel):
    """A complaint's text as submitted — the one answer that carries personal data unmasked."""

    complaint_id: str
    text: str
    reads: list[OriginalReadOut] = Field(description="Every read of this original, oldest first (this one last).")
