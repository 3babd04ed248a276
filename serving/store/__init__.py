"""The durable store: complaints, every decision (the audit trail), reviews, clusters, API keys."""

from serving.store.complaints import NewComplaint, NothingToCorrect, QueueFilter, StoreConflict, content_hash
from serving.store.keys import LastAdminKey
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
    "LastAdminKey",
    "NewComplaint",
    "NothingToCorrect",
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
