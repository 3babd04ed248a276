"""The intake's bounds on a controlled clock: a count of complaints waiting, and the seconds of work they are at
the pace the intake keeps; one request is always let in when nothing waits."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from prometheus_client import CollectorRegistry

from serving.limits import Busy, IntakeQueue, LimitMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def queue(limit: int = 100, max_wait: float | None = 0.5) -> tuple[IntakeQueue, Clock, CollectorRegistry]:
    registry, clock = CollectorRegistry(), Clock()
    return IntakeQueue(limit, LimitMetrics(registry), max_wait, clock), clock, registry


def shed(registry: CollectorRegistry, bound: str) -> float:
    return registry.get_sample_value("triage_requests_shed_total", {"bound": bound}) or 0.0


def test_past_the_count_a_request_is_refused_whole_and_an_idle_intake_takes_any_batch():
    intake, _clock, registry = queue(limit=3, max_wait=None)
    with ExitStack() as held:
        held.enter_context(intake.admit(2))
        with pytest.raises(Busy, match=r"2 complaints are waiting.*2 more would exceed the intake's limit of 3"):
            held.enter_context(intake.admit(2))
        held.enter_context(intake.admit(1))
        assert intake.waiting == 3
    assert intake.waiting == 0 and shed(registry, "intake_queue") == 1
    with intake.admit(50):  # nothing waits: larger than the bound, still served
        assert intake.waiting == 50


def test_past_the_seconds_of_work_at_the_recent_pace_a_request_is_refused():
    intake, clock, registry = queue(max_wait=0.5)
    with ExitStack() as held:
        requests = [held.enter_context(ExitStack()) for _ in range(10)]
        for request in requests:
            request.enter_context(intake.admit(1))
        assert intake.seconds_per_complaint() is None  # no pace yet: the count alone applies
        for request in requests[:5]:  # one answer every 0.1 s
            clock.now += 0.1
            request.close()
        assert intake.seconds_per_complaint() == pytest.approx(0.1)
        # 5 waiting + 1 = 0.6 s of work > 0.5 s
        with pytest.raises(Busy, match=r"about 0\.5 s of work at the current pace; the intake takes no more than"):
            held.enter_context(intake.admit(1))
        assert shed(registry, "intake_wait") == 1
        for request in requests[5:7]:
            clock.now += 0.1
            request.close()
        held.enter_context(intake.admit(1))  # 3 waiting + 1 = 0.4 s: let in
        assert intake.waiting == 4


def test_idle_time_is_not_counted_in_the_pace():
    intake, clock, _registry = queue(max_wait=0.5)
    for _period in range(2):  # two busy spells of 5 answers at 0.1 s, a minute idle between them
        with ExitStack() as spell:
            requests = [spell.enter_context(ExitStack()) for _ in range(5)]
            for request in requests:
                request.enter_context(intake.admit(1))
            for request in requests:
                clock.now += 0.1
                request.close()
        assert intake.waiting == 0
        clock.now += 60
    assert intake.seconds_per_complaint() == pytest.approx(0.1)


def test_a_micro_batch_answered_at_once_counts_its_time_once():
    intake, clock, _registry = queue(max_wait=0.5)
    with ExitStack() as held:
        requests = [held.enter_context(ExitStack()) for _ in range(12)]
        for request in requests:
            request.enter_context(intake.admit(1))
        clock.now += 0.4  # a batch of 4 decided in 0.4 s, its answers leave together
        for request in requests[:4]:
            request.close()
        assert intake.seconds_per_complaint() == pytest.approx(0.1)
        with pytest.raises(Busy):  # 8 waiting + 1 at 0.1 s = 0.9 s
            held.enter_context(intake.admit(1))
