"""TermStats: the online document frequencies behind group matters — how rare a term was before it burst, and
what is forgotten (issue 14: a long stream must not grow its memory without bound)."""

from __future__ import annotations

import pytest

from triage.similarity.terms import TermStats

DAY = 86400.0


def feed(stats: TermStats, days: range, terms_of) -> None:
    for day in days:
        stats.add(day, f"customer{day}", day * DAY, terms_of(day))


def test_a_term_unused_for_longer_than_the_memory_is_forgotten():
    stats = TermStats(recent_seconds=30 * DAY, memory_seconds=365 * DAY)
    stats.add(0, "c0", 0.0, ["伊景园"])
    feed(stats, range(1, 366), lambda day: ["物业"])  # daily traffic without it, for a year
    assert "伊景园" in stats.terms  # 365 days later: still remembered
    feed(stats, range(366, 368), lambda day: ["物业"])
    assert "伊景园" not in stats.terms and "伊景园" not in stats.last_seen
    assert "物业" in stats.terms  # used every day: never forgotten
    assert stats.terms["物业"].aged == 367 - 30 - 1  # its baseline count is whole


def test_a_forgotten_term_is_as_new_as_a_name_never_seen():
    stats = TermStats(recent_seconds=30 * DAY, memory_seconds=100 * DAY)
    feed(stats, range(0, 5), lambda day: ["滨河苑", "物业"])  # five complaints with it, then silence
    feed(stats, range(5, 200), lambda day: ["物业"])
    assert stats.idf("滨河苑") == stats.idf("从未出现的名字")


def test_memory_follows_the_recent_terms_not_the_whole_stream():
    """A stream where every complaint names something new (numbers, names, misspellings): the terms kept
    stay those of the memory period, however long the stream."""
    stats = TermStats(recent_seconds=10 * DAY, memory_seconds=50 * DAY)
    feed(stats, range(0, 1000), lambda day: [f"名字{day}", "投诉"])
    assert len(stats.terms) <= 52 + 1  # the last ~50 days' names, and the one term used every day
    assert len(stats.last_seen) == len(stats.terms)


def test_without_a_memory_nothing_is_forgotten():
    stats = TermStats(recent_seconds=10 * DAY)
    feed(stats, range(0, 300), lambda day: [f"名字{day}"])
    assert len(stats.terms) == 300


def test_the_memory_cannot_be_shorter_than_the_recent_period():
    with pytest.raises(ValueError, match="at least as long as the recent period"):
        TermStats(recent_seconds=30 * DAY, memory_seconds=10 * DAY)


def test_a_state_saved_before_pruning_counts_every_term_as_seen_now():
    """A window saved before terms were forgotten has no last-seen times: its terms start their year now."""
    stats = TermStats(recent_seconds=10 * DAY, memory_seconds=50 * DAY)
    feed(stats, range(0, 20), lambda day: [f"名字{day}"])
    stats._last_seen = None  # what unpickling an older state gives (the class default)
    assert stats.last_seen == dict.fromkeys(stats.terms, 19 * DAY)


def test_the_policy_refuses_a_term_memory_shorter_than_term_days():
    from pydantic import ValidationError

    from triage.policy.schema import GroupDetection

    with pytest.raises(ValidationError, match="term_memory_days"):
        GroupDetection(term_days=30, term_memory_days=20)
