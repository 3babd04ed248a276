"""Repeat complaints: the same customer again, on the same matter.

Each customer's complaints of the last `window_days` are kept (a handful per customer, so an exact
comparison is cheap). A new complaint is scored against each of them; the best one at or above the
threshold puts it on that complaint's matter, and the count of the matter's complaints is its
`repeat_count`. With no match it opens a matter of its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from rapidfuzz import fuzz

from triage.policy.schema import RepeatDetection
from triage.schemas import RelatedComplaint, RepeatInfo
from triage.similarity.facts import Facts, extract_facts, new_facts


@dataclass(slots=True)
class _Earlier:
    complaint_id: str
    at: float  # epoch seconds
    received_at: datetime  # kept for the output
    vector: np.ndarray  # float16 topic vector
    words: str  # jieba words joined by spaces: what rapidfuzz's token-set ratio compares
    category: str
    facts: Facts
    matter_id: str


@dataclass
class RepeatDetector:
    config: RepeatDetection
    _histories: dict[str, list[_Earlier]] = field(default_factory=dict)
    _expiry: deque[tuple[float, str]] = field(default_factory=deque)  # (time, customer) in arrival order

    def score(self, vector: np.ndarray, words: str, category: str, earlier: _Earlier) -> float:
        c = self.config
        cosine = float(np.dot(vector, earlier.vector.astype(np.float32)))
        text_similarity = fuzz.token_set_ratio(words, earlier.words) / 100
        return c.cosine_weight * cosine + c.text_weight * text_similarity + c.category_weight * (
            category == earlier.category)

    def observe(self, complaint_id: str, customer_id: str | None, received_at: datetime, text: str,
                words: str, category: str, vector: np.ndarray) -> RepeatInfo:
        """Compare with the customer's earlier complaints, then remember this one."""
        at = received_at.timestamp()
        self._expire(at)
        if not customer_id:  # anonymous: nothing to compare with, and nothing to remember
            return RepeatInfo()
        facts = extract_facts(text)
        history = self._histories.setdefault(customer_id, [])
        scored = sorted(((self.score(vector, words, category, e), e) for e in history if e.at <= at),
                        key=lambda pair: -pair[0])
        matches = [(s, e) for s, e in scored if s >= self.config.threshold]
        if matches:
            matter = matches[0][1].matter_id
            on_matter = [e for e in history if e.matter_id == matter]
            earlier_facts = Facts.empty()
            for e in on_matter:
                earlier_facts = earlier_facts.union(e.facts)
            info = RepeatInfo(
                is_repeat=True, repeat_count=len(on_matter) + 1, matter_id=matter,
                related=[RelatedComplaint(complaint_id=e.complaint_id, score=round(s, 4), received_at=e.received_at)
                         for s, e in matches if e.matter_id == matter],
                new_facts=new_facts(facts, earlier_facts))
        else:
            matter = complaint_id
            info = RepeatInfo(matter_id=matter)
        history.append(_Earlier(complaint_id, at, received_at, vector.astype(np.float16), words, category, facts,
                                matter))
        self._expiry.append((at, customer_id))
        return info

    def _expire(self, now: float) -> None:
        horizon = now - self.config.window_days * 86400
        while self._expiry and self._expiry[0][0] < horizon:
            _, customer = self._expiry.popleft()
            kept = [e for e in self._histories.get(customer, []) if e.at >= horizon]
            if kept:
                self._histories[customer] = kept
            else:
                self._histories.pop(customer, None)

    def __len__(self) -> int:
        return len(self._expiry)
