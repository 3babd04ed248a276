"""The words every part of the project shares, defined once: urgency tiers, intake channels, review actions,
group alerts. The policy file, the schemas, the store, the API, the pages and the feedback reader import them
from here (API roles belong to the service: `serving/roles.py`)."""

from __future__ import annotations

from typing import Literal, get_args

Tier = Literal["red", "yellow", "green"]
TIERS: tuple[Tier, ...] = get_args(Tier)  # most urgent first: the review queue's order
TIER_ORDER: dict[str, int] = {tier: rank for rank, tier in enumerate(reversed(TIERS))}  # higher = more urgent

Channel = Literal["hotline", "app", "web", "wechat", "branch", "letter", "other"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

ReviewAction = Literal["confirm", "correct"]
REVIEW_ACTIONS: tuple[ReviewAction, ...] = get_args(ReviewAction)

GroupAlert = Literal["emerging", "major"]
AlertAction = Literal["confirm", "dismiss"]  # a lead's review of a group alert
AlertStatus = Literal["open", "confirmed", "dismissed"]

# The bank's time zone: a time given without one is read in it (the policy file may name another).
BANK_TIMEZONE = "Asia/Shanghai"
