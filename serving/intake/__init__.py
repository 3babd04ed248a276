"""Intake: accepting complaints for good (`intake.py`), micro-batching the ones that arrive together
(`batching.py`), and rebuilding the similarity window from the store (`window.py`)."""

from serving.intake.batching import MicroBatcher
from serving.intake.intake import Accepted, FairLock, IdConflict, Intake, Outcome, StoreFailure, new_complaint_id
from serving.intake.window import build_similarity, catch_up

__all__ = [
    "Accepted",
    "FairLock",
    "IdConflict",
    "Intake",
    "MicroBatcher",
    "Outcome",
    "StoreFailure",
    "build_similarity",
    "catch_up",
    "new_complaint_id",
]
