"""Pydantic models shared by the CLI, the MLflow wrapper and (later) the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["hotline", "app", "web", "wechat", "branch", "letter", "other"]


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, description="The complaint as the customer wrote it.")
    complaint_id: str | None = None
    customer_id: str | None = None
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
