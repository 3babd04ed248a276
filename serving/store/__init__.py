"""The durable store: complaints, every decision (the audit trail), reviews, clusters, API keys."""

from serving.store.store import Principal, QueueFilter, Store, StoreConflict

__all__ = ["Principal", "QueueFilter", "Store", "StoreConflict"]
