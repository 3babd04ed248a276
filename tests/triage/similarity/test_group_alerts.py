"""Group alerts as events, and a lead's dismissal: the similarity engine announces each alert once per level
(`take_alerts`) with every member so far, and a dismissed cluster stays quiet until it grows — new distinct
customers at least half of those it had (`regrow_share`) and at least `regrow_customers`.

No model: topic vectors by hand (a matter is a basis vector plus seeded noise), ordinary traffic before so
that the detector has a history to tell a new name from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from triage.features.prepare import prepare_text
from triage.policy.schema import GroupDetection, Similarity
from triage.similarity.engine import SimilarityEngine

DIM = 16
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]
BURST = "第{n}份投诉：信用卡年费被乱收，客服一直推脱，要求退还"


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


class Feed:
    def __init__(self, **groups):
        self.engine = SimilarityEngine(Similarity(groups=GroupDetection(**groups)), DIM)
        self.rng = np.random.default_rng(0)
        self.count = 0
        for i in range(300):  # forty days of ordinary traffic, one customer each, varied matters
            self(f"B{i}", -timedelta(days=40) + timedelta(days=40) * i / 300, axis(8 + i % 8),
                 f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}")
        assert self.engine.take_alerts() == []

    def __call__(self, customer: str, at: timedelta, direction: np.ndarray | None = None, raw: str | None = None):
        self.count += 1
        vector = (direction if direction is not None else axis(0)) + 0.05 * self.rng.standard_normal(DIM)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        return self.engine.observe(f"C{self.count:03d}", customer, T0 + at, prepare_text(
            raw or BURST.format(n=self.count)).text, "定价收费", vector)

    def burst(self, customers: list[str], start: float = 0.0):
        return [self(c, timedelta(hours=start + 0.5 * i)) for i, c in enumerate(customers)]


def test_an_alert_is_announced_once_per_level_with_every_member_so_far():
    feed = Feed(emerging_customers=3, emerging_complaints=3, major_customers=6)
    results = feed.burst([f"U{i}" for i in range(8)])
    assert [r.group.alert for r in results] == [None, None, "emerging", "emerging", "emerging", "major", "major",
                                                 "major"]
    emerging, major = feed.engine.take_alerts()
    cluster_id = results[0].group.cluster_id
    assert (emerging.cluster_id, emerging.level, emerging.previous_level) == (cluster_id, "emerging", None)
    assert emerging.members == ["C301", "C302", "C303"] and emerging.trigger == "C303"
    assert emerging.distinct_customers == 3 and emerging.raised_at == T0 + timedelta(hours=1)
    assert "年费" in emerging.terms
    assert (major.level, major.previous_level, major.distinct_customers) == ("major", "emerging", 6)
    assert major.members == [f"C{i}" for i in range(301, 307)] and major.trigger == "C306"
    assert feed.engine.take_alerts() == []  # taken once


def test_a_dismissed_cluster_does_not_alert_again_unless_it_grows():
    feed = Feed()  # emerging at 4 customers and 5 complaints; regrow: half as many new customers, at least 3
    first = feed.burst(["U0", "U1", "U2", "U3", "U4", "U5"])
    assert first[-1].group.alert == "emerging"
    [raised] = feed.engine.take_alerts()
    cluster_id = raised.cluster_id
    assert sorted(feed.engine.dismiss_alert(cluster_id) or []) == [f"U{i}" for i in range(6)]
    assert feed.engine.cluster(cluster_id)["dismissed"] is True

    # the same customers again, and two new ones: still one cluster, no alert on them, nothing announced
    quiet = [feed("U1", timedelta(hours=4)), feed("U2", timedelta(hours=4.5)),
             feed("N1", timedelta(hours=5)), feed("N2", timedelta(hours=5.5))]
    assert {r.group.cluster_id for r in quiet} == {cluster_id}
    assert all(r.group.alert is None for r in quiet)
    assert feed.engine.take_alerts() == []

    # the third new customer: 3 >= max(3, 0.5 x 6): it has grown, and alerts again with every member
    grown = feed("N3", timedelta(hours=6))
    assert (grown.group.cluster_id, grown.group.alert) == (cluster_id, "emerging")
    [again] = feed.engine.take_alerts()
    assert (again.cluster_id, again.regrown, again.previous_level) == (cluster_id, True, None)
    assert again.distinct_customers == 9 and len(again.members) == 11
    assert feed.engine.cluster(cluster_id)["dismissed"] is False


def test_a_large_dismissed_cluster_needs_half_as_many_new_customers():
    feed = Feed(regrow_customers=2, regrow_share=0.5)
    feed.burst([f"U{i}" for i in range(10)])
    [raised] = feed.engine.take_alerts()
    feed.engine.dismiss_alert(raised.cluster_id)
    for i in range(4):
        assert feed(f"N{i}", timedelta(hours=6 + i)).group.alert is None
    assert feed("N4", timedelta(hours=11)).group.alert == "emerging"  # 5 new = half of 10
    assert [a.regrown for a in feed.engine.take_alerts()] == [True]


def test_a_dismissal_is_restored_on_a_rebuilt_window_and_survives_a_snapshot(tmp_path):
    feed = Feed()
    feed.burst(["U0", "U1", "U2", "U3", "U4", "U5"])
    [raised] = feed.engine.take_alerts()
    customers = feed.engine.dismiss_alert(raised.cluster_id)
    loaded = SimilarityEngine.load(feed.engine.save(tmp_path / "state"))
    assert loaded.cluster(raised.cluster_id)["dismissed"] is True

    rebuilt = Feed()  # the same complaints replayed: the alert comes back, the stored dismissal is put back
    rebuilt.burst(["U0", "U1", "U2", "U3", "U4", "U5"])
    rebuilt.engine.take_alerts()
    holder = rebuilt.engine.cluster_holding(raised.members)
    assert holder is not None
    rebuilt.engine.dismiss_alert(holder, customers)
    assert rebuilt("N1", timedelta(hours=5)).group.alert is None
    assert rebuilt.engine.dismiss_alert("G999999") is None  # not in the window
