"""Distinctive terms learnt online: what a group complaint's customers share that others did not say before.

A group complaint is one root cause — a project, a platform, a branch, an outage on a date — and its
complaints name it: 伊景园滨河苑, 华信手机银行 + 6月10日, 瑞泰 + 年费 + 两次. A category does not make one
("interest too high" arrives every day). So each complaint's words are counted against their own past:
how many complaints of the stream contained the word before the recent period (`term_days`), against
how many distinct customers use it now. A word never seen before is as rare as the history is long, so a
name first seen today counts — once there is a history to be new against: on an empty stream every word
is as common as it is rare (a prior of one in two), and nothing is distinctive yet.

The counts are per complaint, in `received_at` time (never the server's clock), so a replay, a backlog
flush and live traffic see the same thing, and a complaint only ever counts complaints received before it.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import jieba
from scipy.stats import poisson

# jieba dictionary tags of words that do not name a thing: verbs, idioms and set phrases, numerals and
# measure words, times, adjectives, adverbs, pronouns, function words. Measured on tipdm's stream: without
# this, slogans and idioms (不忘/初心/牢记/使命, 年久失修, 置若罔闻) burst across unrelated messages.
# Nouns, names (nr, ns, nt, nz), abbreviations and words the dictionary does not know (a new platform or
# project name) stay.
_NOT_NAMING = frozenset({"v", "vd", "vg", "vq", "i", "l", "m", "mq", "q", "t", "tg", "a", "ad", "ag", "an", "z", "zg",
                         "d", "r", "s", "c", "f", "o", "p", "u", "y", "e", "g", "b", "k"})


def _not_naming() -> frozenset[str]:
    return _dictionary()[0]


# A word jieba's general dictionary counts more often than this is everyday language (门窗 542, 临街 87, 美食
# 1025): it names a kind of thing, not one thing. Names are rare there or unknown (广铁集团 2, 搅拌站 3; 伊景园,
# 丽发, 18.5, 手机银行 are not in it at all).
EVERYDAY_FREQUENCY = 20


def names_one_thing(term: str) -> bool:
    """Whether a term can name a matter on its own: a name — a word jieba's general dictionary does not know
    or has seldom seen (an estate, a company, a new platform, an amount) — not a word of everyday language. On
    tipdm, lone everyday words bursting across unrelated petitions (门窗 doors and windows, 临街 street-front)
    made two of ten alerts."""
    return term not in _dictionary()[1]


@cache
def _dictionary() -> tuple[frozenset[str], frozenset[str]]:
    """From jieba's general dictionary: the words it tags as not naming anything, and its everyday words."""
    not_naming, everyday = set(), set()
    for parts in map(str.split, jieba.get_dict_file().read().decode("utf-8").splitlines()):
        if len(parts) == 3:
            if parts[2] in _NOT_NAMING:
                not_naming.add(parts[0])
            if int(parts[1]) > EVERYDAY_FREQUENCY:
                everyday.add(parts[0])
    return frozenset(not_naming), frozenset(everyday)


def warm_terms() -> None:
    """Read the dictionary's tags and counts now (~3 s), not on the first complaint."""
    _dictionary()


def candidate_terms(words: Iterable[str]) -> set[str]:
    """Words that can name a matter: two characters or more, not a word the dictionary knows as something
    other than a noun or a name; short bare numbers ("10", "12") are everywhere (days, amounts) and name
    nothing alone."""
    skip = _not_naming()
    return {w for w in words if len(w) >= 2 and w not in skip and not (w.isdigit() and len(w) <= 2)}


@dataclass(slots=True)
class _Occurrences:
    times: list[float] = field(default_factory=list)  # received_at of recent complaints with the term, sorted
    keys: list[int] = field(default_factory=list)  # parallel to times
    customers: list[str] = field(default_factory=list)
    aged: int = 0  # complaints with the term that left the recent period: its baseline


@dataclass(frozen=True, slots=True)
class TermBurst:
    term: str
    seconds: float  # the recent period in which it burst
    customers: int  # distinct customers using it in that period, up to this complaint
    expected: float  # complaints with it that its own baseline expected in that period
    share: float  # its share of the complaints before that period (smoothed)
    p_value: float = 1.0  # Poisson tail of `customers` given `expected`

    @property
    def weight(self) -> float:
        """Rarity before the burst."""
        return math.log(1 / self.share)


PRUNE_EVERY = 86400.0  # seconds of received_at between two sweeps of forgotten terms


class TermStats:
    """Document frequencies of candidate terms: in the recent period (per complaint, kept for the group
    test) and before it (counts only). `recent_seconds` is the longest period a burst is tested over.

    A term nobody used for `memory_seconds` is forgotten, its baseline count with it: the vocabulary of a
    long stream grows without end (names, numbers, misspellings), and a word unused for that long is, when it
    comes back, as new as a name never seen. Memory then follows the terms of the last `memory_seconds`, not
    the whole history. (The count of complaints before the recent period is not forgotten: it is one number.)
    """

    _last_seen: dict[str, float] | None = None  # class default: a state saved before pruning existed loads
    memory_seconds: float | None = None
    _pruned_at = -math.inf

    def __init__(self, recent_seconds: float, memory_seconds: float | None = None):
        if memory_seconds is not None and memory_seconds < recent_seconds:
            raise ValueError(f"terms must be remembered at least as long as the recent period "
                             f"({memory_seconds} < {recent_seconds} seconds)")
        self.recent_seconds = recent_seconds
        self.memory_seconds = memory_seconds
        self.terms: dict[str, _Occurrences] = {}
        self._last_seen = {}  # term -> received_at of its latest complaint
        self.times: list[float] = []  # every recent complaint, sorted
        self.keys: list[int] = []  # parallel to times
        self.key_terms: dict[int, tuple[str, ...]] = {}
        self.key_customer: dict[int, str] = {}
        self.aged_complaints = 0
        self.now = -math.inf

    @property
    def last_seen(self) -> dict[str, float]:
        if self._last_seen is None:  # a state saved before pruning: every term counts as seen now
            self._last_seen = dict.fromkeys(self.terms, self.now)
        return self._last_seen

    def add(self, key: int, customer: str, at: float, terms: Iterable[str]) -> None:
        chosen = tuple(sorted(set(terms)))
        self.now = max(self.now, at)
        last_seen = self.last_seen
        for term in chosen:
            if last_seen.get(term, -math.inf) < at:
                last_seen[term] = at
        if at < self.now - self.recent_seconds:  # older than the recent period already: baseline only
            self.aged_complaints += 1
            for term in chosen:
                self.terms.setdefault(term, _Occurrences()).aged += 1
            return
        position = bisect_right(self.times, at)
        self.times.insert(position, at)
        self.keys.insert(position, key)
        self.key_terms[key] = chosen
        self.key_customer[key] = customer
        for term in chosen:
            occurrences = self.terms.setdefault(term, _Occurrences())
            position = bisect_right(occurrences.times, at)
            occurrences.times.insert(position, at)
            occurrences.keys.insert(position, key)
            occurrences.customers.insert(position, customer)
        self.expire(self.now)

    def expire(self, now: float) -> None:
        """Move what left the recent period into the baseline counts (and, once a day, forget the terms
        unused for `memory_seconds`)."""
        gone = bisect_left(self.times, now - self.recent_seconds)
        for key in self.keys[:gone]:
            self.aged_complaints += 1
            del self.key_customer[key]
            for term in self.key_terms.pop(key):
                occurrences = self.terms[term]
                index = occurrences.keys.index(key)
                del occurrences.times[index], occurrences.keys[index], occurrences.customers[index]
                occurrences.aged += 1
        del self.times[:gone], self.keys[:gone]
        if self.memory_seconds is not None and now - self._pruned_at >= PRUNE_EVERY:
            self.prune(now)

    def prune(self, now: float) -> int:
        """Forget the terms unused for `memory_seconds` before `now`; returns how many."""
        self._pruned_at = now
        if self.memory_seconds is None:
            return 0
        horizon = now - self.memory_seconds
        forgotten = [term for term, seen in self.last_seen.items() if seen < horizon]
        for term in forgotten:
            del self._last_seen[term]  # type: ignore[union-attr]
            occurrences = self.terms.pop(term, None)
            assert occurrences is None or not occurrences.times  # still recent: seen after the horizon
        return len(forgotten)

    def customer(self, key: int) -> str:
        return self.key_customer[key]

    def bursts(self, at: float, terms: Iterable[str], periods: Iterable[float], min_customers: int,
               growth_ratio: float, max_p_value: float, max_share: float = 1.0) -> list[TermBurst]:
        """The terms of a complaint received at `at` that more distinct customers used in a recent period
        (complaints received up to `at` only: never later ones) than their own baseline explains: at least
        `min_customers`, `growth_ratio` times the expected count, and a Poisson tail of at most
        `max_p_value`; and at most `max_share` of the complaints before that period had them. Of the
        periods (seconds, at most `recent_seconds`), the most significant one."""
        end = bisect_right(self.times, at)
        windows = []
        for seconds in periods:
            start = bisect_left(self.times, at - seconds)
            windows.append((seconds, end - start, self.aged_complaints + start))
        found = []
        for term in set(terms):
            occurrences = self.terms.get(term)
            if occurrences is None:
                continue
            last = bisect_right(occurrences.times, at)
            best: tuple[float, TermBurst] | None = None
            for seconds, recent, history in windows:
                first = bisect_left(occurrences.times, at - seconds)
                # Laplace's rule: with no history a term is as likely as not; each complaint without it
                # makes it rarer.
                share = (occurrences.aged + first + 1) / (history + 2)
                if share > max_share or last - first < min_customers:  # cheap tests first: most terms stop here
                    continue
                customers = len(set(occurrences.customers[first:last]))
                expected = share * recent
                if customers < min_customers or customers < growth_ratio * expected:
                    continue
                p_value = float(poisson.sf(customers - 1, expected))
                if p_value <= max_p_value and (best is None or p_value < best[0]):
                    best = (p_value, TermBurst(term, seconds, customers, expected, share, p_value))
            if best is not None:
                found.append(best[1])
        return sorted(found, key=lambda b: (-b.weight, b.term))

    def idf(self, term: str) -> float:
        occurrences = self.terms.get(term)
        df = 0 if occurrences is None else occurrences.aged + len(occurrences.times)
        return math.log((self.aged_complaints + len(self.times) + 2) / (df + 1))

    def text_similarity(self, keys: Iterable[int], leave_out: Iterable[str] = ()) -> float:
        """Mean pairwise cosine of the recent complaints' term sets (without `leave_out`), each term weighted
        by its idf in the stream so far: complaints about one matter share much of what they say, not one
        slogan or one name."""
        skip = set(leave_out)
        vectors = []
        for key in keys:
            terms = [t for t in self.key_terms.get(key, ()) if t not in skip]
            if terms:
                weights = {t: self.idf(t) for t in terms}
                norm = math.sqrt(sum(w * w for w in weights.values()))
                vectors.append({t: w / norm for t, w in weights.items()})
        if len(vectors) < 2:
            return 1.0
        total, pairs = 0.0, 0
        for i, a in enumerate(vectors):
            for b in vectors[i + 1:]:
                small, large = (a, b) if len(a) < len(b) else (b, a)
                total += sum(w * large.get(t, 0.0) for t, w in small.items())
                pairs += 1
        return total / pairs

    def recent_keys(self, term: str, at: float, seconds: float) -> list[int]:
        """Keys of the complaints with `term` received in the `seconds` up to `at`."""
        occurrences = self.terms.get(term)
        if occurrences is None:
            return []
        times = occurrences.times
        return occurrences.keys[bisect_left(times, at - seconds):bisect_right(times, at)]
