"""Pydantic models shared by the CLI, the MLflow wrapper and (later) the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["hotline", "app", "web", "wechat", "branch", "letter", "other"]


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, description="The complaint as the customer wrote it.")
    # Ids appear in URL paths (/v1/complaints/{id}): no slashes, spaces or other separators.
    complaint_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:\-]{1,128}$",
                                     description="Your id: letters, digits and . _ : - (at most 128). "
                                                 "Omitted: the service assigns one.")
    customer_id: str | None = Field(default=None, pattern=r"^[^/?#\s]{1,128}$",
                                    description="The customer's id in your systems (no / ? # or spaces).")
    channel: Channel | None = None
    product: str | None = None
    received_at: datetime | None = None
    amount: float | None = Field(default=None, ge=0, description="Amount in dispute, in yuan.")


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


GroupAlert = Literal["emerging", "major"]


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


class GroupInfo(BaseModel):
    cluster_id: str | None = None
    cluster_size: int = 0
    distinct_customers: int = 0
    alert: GroupAlert | None = None


class CoordinatedInfo(BaseModel):
    """Near-identical texts from other customers (a copy-paste campaign)."""

    linked: list[str] = []
    count: int = Field(default=1, description="Complaints in the campaign, this one included.")


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
    label: Literal["red", "yellow", "green"]
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
