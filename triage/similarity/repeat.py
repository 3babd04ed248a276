"""Repeat complaints: the same customer again, on the same matter.

Each customer's complaints of the last `window_days` are kept (a handful per customer, so an exact
comparison is cheap). A new complaint is scored against each of them on what identifies a matter
(`matter.py`): the words they share weighted by how few customers use them, the names and references
they share (an estate, a branch, a contract number), and the token-set ratio of their words; the topic
vector and the category can be weighted in too. The best earlier complaint at or above the threshold puts
it on that complaint's matter — a customer may have several open matters, and each is counted on its
own — and the count of the matter's complaints is its `repeat_count`. With no match it opens a matter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from rapidfuzz import fuzz

from triage.features.tokenizer import tokenize
from triage.policy.schema import RepeatDetection
from triage.schemas import RelatedComplaint, RepeatInfo
from triage.similarity.corrections import MatterCorrection, correct
from triage.similarity.facts import Facts, extract_facts, new_facts, untold
from triage.similarity.matter import (
    DEFAULT_REFERENCE_KEY,
    FOLLOW_UP,
    MatterKeys,
    WordRarity,
    key_fingerprint,
    matter_keys,
    shared_names,
)


@dataclass(slots=True)
class _Earlier:
    complaint_id: str
    at: float  # epoch seconds
    received_at: datetime  # kept for the output
    vector: np.ndarray  # float16 topic vector
    words: str  # jieba words joined by spaces: what rapidfuzz's token-set ratio compares
    terms: frozenset[str]  # the distinct words: what the rare-word cosine compares
    category: str
    facts: Facts
    keys: MatterKeys
    matter_id: str


@dataclass(frozen=True, slots=True)
class _Candidate:
    """An earlier complaint scored against the new one, with what they share."""

    score: float
    earlier: _Earlier
    shared: tuple[str, ...]
    cosine: float  # of the topic vectors
    names_other: bool  # the new complaint names specific things, none of them the earlier one's …
    names_apart: bool  # … and the earlier one names specific things too: two estates, two branches


@dataclass
class RepeatDetector:
    config: RepeatDetection
    _histories: dict[str, list[_Earlier]] = field(default_factory=dict)
    _expiry: deque[tuple[float, str]] = field(default_factory=deque)  # (time, customer) in arrival order
    _rarity: WordRarity = field(default_factory=WordRarity)
    # Keys the hashes of contract and card numbers. Never saved with the window, only its fingerprint
    # (`reference_key_id`): a window loaded with another key must be rebuilt, its hashes would never match.
    reference_key: bytes = field(default=DEFAULT_REFERENCE_KEY, repr=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["reference_key"] = None
        state["reference_key_id"] = key_fingerprint(self.reference_key)
        return state

    def __setstate__(self, state: dict) -> None:
        # A window saved before the key was a setting hashed with the default key.
        state.setdefault("reference_key_id", key_fingerprint(DEFAULT_REFERENCE_KEY))
        state.pop("reference_key", None)  # the class default until the loader gives the key it checked
        self.__dict__.update(state)

    def candidate(self, vector: np.ndarray, words: str, terms: frozenset[str], category: str, keys: MatterKeys,
                  earlier: _Earlier) -> _Candidate:
        c = self.config
        cosine = float(np.dot(vector, earlier.vector.astype(np.float32)))
        score = c.rare_words_weight * self._rarity.cosine(terms, earlier.terms)
        score += c.text_weight * fuzz.token_set_ratio(words, earlier.words) / 100
        score += c.cosine_weight * cosine + c.category_weight * (category == earlier.category)
        references = sorted(keys.references[h] for h in keys.references.keys() & earlier.keys.references.keys())
        names = [n for n in shared_names(keys.names, earlier.keys.names) if self._specific(n)]
        shared = (*references, *names)  # names already weigh in the rare-word cosine; these explain
        names_other = not shared and any(self._specific(n) for n in keys.names)
        names_apart = names_other and any(self._specific(n) for n in earlier.keys.names)
        score -= c.names_apart_penalty * names_apart
        return _Candidate(score, earlier, shared, cosine, names_other, names_apart)

    def _specific(self, name: str) -> bool:
        return not self._rarity.common(_name_term(name), self.config.common_share)

    def _new_content(self, terms: frozenset[str], on_matter: list[_Earlier], fresh: str) -> list[str]:
        """New facts told in words: `new_facts_words` or more specific words and names (not common in the
        window) that no earlier complaint on the matter used — who replied, what happened, where — in the
        clauses that are not retold (`fresh`). A rewording or "still not solved" reuses the matter's words; on
        the tipdm dev labels the count separated re-filings with new facts from those without better than
        amounts, dates and events alone."""
        told = _terms_of(on_matter)
        fresh_words = set(tokenize(fresh))
        novel = [t for t in terms - told if not self._rarity.common(t, self.config.common_share)
                 and (t in fresh_words or (t.startswith("§") and t[1:] in fresh))]
        if len(novel) < self.config.new_facts_words:
            return []
        names = sorted((t[1:] for t in novel if t.startswith("§")), key=lambda n: (-len(n), n))[:3]
        return [f"新内容 {len(novel)} 个新词" + (f"（{'、'.join(names)}）" if names else "")]

    def _same_matter(self, candidate: _Candidate, follow_up: bool, category: str) -> bool:
        """At the threshold; or an explicit follow-up ("上周反映过…") on the same category and topic that names
        nothing the earlier complaint does not."""
        c = self.config
        return candidate.score >= c.threshold or (
            follow_up and candidate.cosine >= c.follow_up_cosine and not candidate.names_other
            and candidate.earlier.category == category)

    def observe(self, complaint_id: str, customer_id: str | None, received_at: datetime, text: str,
                words: str, category: str, vector: np.ndarray, raw_text: str | None = None) -> RepeatInfo:
        """Compare with the customer's earlier complaints, then remember this one.

        `text` is the normalised, masked text; `raw_text`, when given, the text before masking (only its
        bank-card numbers are read, and kept hashed)."""
        at = received_at.timestamp()
        self._expire(at)
        if not customer_id:  # anonymous: nothing to compare with, and nothing to remember
            return RepeatInfo()
        facts = extract_facts(text)
        keys = matter_keys(text, facts.identifiers, raw_text, self.reference_key)
        terms = repeat_terms(words, keys.names)
        history = self._histories.setdefault(customer_id, [])
        # The window's word counts include this complaint, so a word only this customer used is the rarest.
        self._rarity.add(terms - _terms_of(history))
        self._rarity.customers = len(self._histories)
        scored = sorted((self.candidate(vector, words, terms, category, keys, e) for e in history if e.at <= at),
                        key=lambda candidate: -candidate.score)
        follow_up = FOLLOW_UP.search(text) is not None
        matches = [m for m in scored if self._same_matter(m, follow_up, category)]
        if matches:
            matter = matches[0].earlier.matter_id
            on_matter = [e for e in history if e.matter_id == matter]
            earlier_facts = Facts.empty()
            for e in on_matter:
                earlier_facts = earlier_facts.union(e.facts)
            # Only what the customer did not write before can be new: a re-post retells the earlier passages.
            fresh = untold(text, [e.words for e in on_matter])
            found = new_facts(extract_facts(fresh), earlier_facts, received_at.date(),
                              max(e.received_at for e in on_matter).date())
            found += self._new_content(terms, on_matter, fresh)
            info = RepeatInfo(
                is_repeat=True, repeat_count=len(on_matter) + 1, matter_id=matter,
                related=[RelatedComplaint(complaint_id=m.earlier.complaint_id, score=round(m.score, 4),
                                          received_at=m.earlier.received_at)
                         for m in matches if m.earlier.matter_id == matter],
                shared=list(dict.fromkeys(s for m in matches if m.earlier.matter_id == matter for s in m.shared)),
                new_facts=found)
        else:
            matter = complaint_id
            info = RepeatInfo(matter_id=matter)
        history.append(_Earlier(complaint_id, at, received_at, vector.astype(np.float16), words, terms, category,
                                facts, keys, matter))
        self._expiry.append((at, customer_id))
        return info

    def matters(self, customer_id: str) -> dict[str, str]:
        """The customer's complaints in the window with their matters, in arrival order."""
        return {e.complaint_id: e.matter_id for e in self._histories.get(customer_id, [])}

    def correct(self, customer_id: str, correction: MatterCorrection, strict: bool = False) -> dict[str, str]:
        """Apply a lead's split or join to the customer's complaints in the window, so that their next
        complaints are counted on the corrected matters; returns the complaints moved, with their new matter.
        Not strict by default: the window may have expired some of the complaints named (see `correct`)."""
        before = self.matters(customer_id)
        after = correct(before, correction, strict)
        for e in self._histories.get(customer_id, []):
            e.matter_id = after[e.complaint_id]
        return {c: m for c, m in after.items() if before[c] != m}

    def _expire(self, now: float) -> None:
        horizon = now - self.config.window_days * 86400
        while self._expiry and self._expiry[0][0] < horizon:
            _, customer = self._expiry.popleft()
            history = self._histories.get(customer, [])
            kept = [e for e in history if e.at >= horizon]
            if len(kept) < len(history):
                self._rarity.remove(_terms_of([e for e in history if e.at < horizon]) - _terms_of(kept))
            if kept:
                self._histories[customer] = kept
            else:
                self._histories.pop(customer, None)
        self._rarity.customers = len(self._histories)

    def __len__(self) -> int:
        return len(self._expiry)


def _name_term(name: str) -> str:
    """A name as a term of the rare-word cosine and count (a jieba word never starts with §)."""
    return "§" + name


def repeat_terms(words: str, names: Iterable[str]) -> frozenset[str]:
    """The terms a complaint brings to the repeat window: its words and its names (the Spark backtest reads
    them on the executors, `RepeatDetector.observe` here: one definition)."""
    return frozenset(words.split()) | {_name_term(n) for n in names}


def _terms_of(history: list[_Earlier]) -> frozenset[str]:
    return frozenset().union(*(e.terms for e in history)) if history else frozenset()
