"""The durable store: complaints, every decision (the audit trail), reviews, clusters, API keys."""

from serving.store.complaints import NewComplaint, QueueFilter, StoreConflict, content_hash
from serving.store.records import (
    ComplaintRecord,
    ComplaintSummary,
    FeedbackRow,
    KeyRecord,
    Principal,
    ReviewRecord,
    Stats,
    StoredComplaint,
    StoredDecision,
    WindowComplaint,
)
from serving.store.store import Store

__all__ = [
    "ComplaintRecord",
    "ComplaintSummary",
    "FeedbackRow",
    "KeyRecord",
    "NewComplaint",
    "Principal",
    "QueueFilter",
    "ReviewRecord",
    "Stats",
    "Store",
    "StoreConflict",
    "StoredComplaint",
    "StoredDecision",
    "WindowComplaint",
    "content_hash",
]
