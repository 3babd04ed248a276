"""SimilarityEngine: repeat complaints (one customer, one matter), copy-paste campaigns (near-identical texts
from different customers) and group complaints (a burst of customers on one topic), one complaint at a time.

No model: topic vectors are made by hand in 16 dimensions. A matter or a topic is a direction (a basis
vector, so two topics are exactly orthogonal); its complaints are that direction plus a little seeded noise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import joblib
import numpy as np
import pytest
from pydantic import ValidationError

from triage.features.prepare import prepare_text
from triage.policy.schema import CoordinatedDetection, GroupDetection, RepeatDetection, Similarity
from triage.schemas import SimilarityResult
from triage.similarity.engine import STATE_FILE, SimilarityEngine, SimilarityStateError

DIM = 16
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
CATEGORY = "信用卡"


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def near(direction: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """`direction` plus a little noise: cosine to it about 0.99."""
    return unit(direction + noise * rng.standard_normal(DIM).astype(np.float32))


def text(raw: str) -> str:
    return prepare_text(raw).text


def engine(**groups) -> SimilarityEngine:
    config = Similarity(groups=GroupDetection(**groups)) if groups else Similarity()
    return SimilarityEngine(config, DIM)


class Feed:
    """Complaints for one engine, with sensible defaults: one line per complaint in the tests."""

    def __init__(self, target: SimilarityEngine, seed: int = 0):
        self.engine = target
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def __call__(self, customer: str | None, at: datetime | timedelta, direction: np.ndarray,
                 raw: str | None = None, category: str = CATEGORY, complaint_id: str | None = None,
                 exact: bool = False) -> SimilarityResult:
        self.count += 1
        complaint_id = complaint_id or f"C{self.count:03d}"
        at = T0 + at if isinstance(at, timedelta) else at
        raw = raw or f"第{self.count}份投诉：信用卡年费被乱收，客服一直推脱，要求退还"
        vector = direction if exact else near(direction, self.rng)
        return self.engine.observe(complaint_id, customer, at, text(raw), category, vector)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]


def background_events(n: int = 300, before: timedelta = timedelta(days=40)
                      ) -> list[tuple[str, timedelta, np.ndarray, str]]:
    """Ordinary traffic before T0: `n` customers, each once, on varied matters and topics (axes 8–15), so that
    the group detector has a history to tell a new name from (with none, nothing is distinctive)."""
    return [(f"B{i}", -before + before * i / n, axis(8 + i % 8),
             f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}") for i in range(n)]


def background(feed: Feed, n: int = 300, before: timedelta = timedelta(days=40)) -> None:
    for customer, at, direction, raw in background_events(n, before):
        feed(customer, at, direction, raw)


# --- repeat complaints ----------------------------------------------------------------------------------

FIRST = "信用卡被多扣了3,150元年费，要求退还"
SECOND = "上周反映过信用卡多扣3150元年费的问题，至今没人回复"
THIRD_SAME = "第三次投诉：信用卡多扣3150元年费的事还没处理，要求退还"
THIRD_NEW = "信用卡多扣3150元年费的事还没处理，本月又多扣了2,000元，要求退还"


@pytest.mark.parametrize(("third", "facts"), [
    pytest.param(THIRD_SAME, [], id="no_new_facts"),
    pytest.param(THIRD_NEW, ["金额 2,000 元"], id="new_amount"),
])
def test_a_series_on_one_matter_counts_up(third, facts):
    feed = Feed(engine())
    a = axis(0)
    first = feed("U1", hours(0), a, FIRST, complaint_id="A1")
    second = feed("U1", days(3), a, SECOND, complaint_id="A2")
    last = feed("U1", days(10), a, third, complaint_id="A3")

    assert (first.repeat.is_repeat, second.repeat.is_repeat, last.repeat.is_repeat) == (False, True, True)
    assert [r.repeat.repeat_count for r in (first, second, last)] == [1, 2, 3]
    assert [r.repeat.matter_id for r in (first, second, last)] == ["A1", "A1", "A1"]
    assert first.repeat.related == [] and first.repeat.new_facts == []
    assert [r.complaint_id for r in second.repeat.related] == ["A1"]
    assert second.repeat.related[0].received_at == T0
    assert second.repeat.new_facts == []  # new wording, same amount
    assert sorted(r.complaint_id for r in last.repeat.related) == ["A1", "A2"]
    scores = [r.score for r in last.repeat.related]
    assert scores == sorted(scores, reverse=True) and all(s >= 0.4 for s in scores)  # best first, above threshold
    assert last.repeat.new_facts == facts


def test_same_customer_on_an_unrelated_matter_is_not_a_repeat():
    feed = Feed(engine())
    feed("U1", hours(0), axis(0), FIRST, complaint_id="A1")
    other = feed("U1", days(1), axis(5), "手机银行登录不了，验证码一直收不到", category="电子银行", complaint_id="B1")
    assert other.repeat.is_repeat is False
    assert other.repeat.repeat_count == 1
    assert other.repeat.matter_id == "B1"  # a matter of its own
    assert other.repeat.related == []
    # ... and the customer's two matters are counted apart.
    again = feed("U1", days(2), axis(0), SECOND, complaint_id="A2")
    assert (again.repeat.repeat_count, again.repeat.matter_id) == (2, "A1")
    assert [r.complaint_id for r in again.repeat.related] == ["A1"]


def test_another_customer_with_the_same_text_is_not_a_repeat():
    feed = Feed(engine())
    v = axis(0)
    feed("U1", hours(0), v, FIRST, complaint_id="A1", exact=True)
    other = feed("U2", hours(1), v, FIRST, complaint_id="A2", exact=True)
    assert other.repeat.is_repeat is False
    assert other.repeat.repeat_count == 1
    assert other.repeat.matter_id == "A2"
    assert other.coordinated.linked == ["A1"]  # a copy-paste, not a repeat


@pytest.mark.parametrize(("later", "repeat"), [
    pytest.param(days(180), True, id="180_days"),
    pytest.param(days(181), False, id="181_days"),
])
def test_repeat_window(later, repeat):
    feed = Feed(engine())
    feed("U1", hours(0), axis(0), FIRST, complaint_id="A1")
    result = feed("U1", later, axis(0), SECOND, complaint_id="A2")
    assert result.repeat.is_repeat is repeat
    assert result.repeat.repeat_count == (2 if repeat else 1)
    assert result.repeat.matter_id == ("A1" if repeat else "A2")


def test_repeat_window_follows_the_config():
    feed = Feed(SimilarityEngine(Similarity(repeat=RepeatDetection(window_days=30)), DIM))
    feed("U1", hours(0), axis(0), FIRST)
    assert feed("U1", days(29), axis(0), SECOND).repeat.is_repeat is True
    assert feed("U1", days(29 + 31), axis(0), SECOND).repeat.is_repeat is False  # both earlier ones expired


@pytest.mark.parametrize("customer", [None, ""])
def test_anonymous_complaints_are_never_repeats(customer):
    feed = Feed(engine())
    results = [feed(customer, hours(i), axis(0), FIRST, exact=True) for i in range(3)]
    for result in results:
        assert result.repeat.is_repeat is False
        assert result.repeat.repeat_count == 1
        assert result.repeat.related == []
    # Two anonymous complaints are not one customer: no group of one, no campaign within "one customer".
    assert results[-1].group.distinct_customers == 3
    assert results[-1].coordinated.count == 3


# --- copy-paste campaigns -------------------------------------------------------------------------------

CAMPAIGN = ("本人于2023年在贵行办理的信用卡分期业务，被工作人员误导，实际年化利率远高于宣传，"
            "要求贵行立即退还多收的利息并道歉")


def test_near_identical_texts_from_different_customers_are_linked():
    feed = Feed(engine())
    v = axis(2)
    first = feed("U1", hours(0), v, CAMPAIGN, complaint_id="K1")
    second = feed("U2", hours(1), v, CAMPAIGN.replace("本人", "我"), complaint_id="K2")  # a tiny edit
    third = feed("U3", hours(2), v, CAMPAIGN + "！", complaint_id="K3")
    assert first.coordinated.linked == [] and first.coordinated.count == 1
    assert second.coordinated.linked == ["K1"] and second.coordinated.count == 2
    assert sorted(third.coordinated.linked) == ["K1", "K2"]
    assert third.coordinated.count == 3


def test_the_same_customer_twice_is_not_a_campaign():
    feed = Feed(engine())
    v = axis(2)
    feed("U1", hours(0), v, CAMPAIGN, complaint_id="K1")
    again = feed("U1", hours(1), v, CAMPAIGN, complaint_id="K2")
    assert again.coordinated.linked == [] and again.coordinated.count == 1
    assert again.repeat.is_repeat is True  # that is a repeat instead


def test_similar_topic_but_different_text_is_not_a_campaign():
    feed = Feed(engine())
    v = axis(2)
    feed("U1", hours(0), v, CAMPAIGN)
    other = feed("U2", hours(1), v, "信用卡分期的利率和宣传的不一样，希望银行给个说法")
    assert other.coordinated.linked == []


def test_same_text_on_a_distant_topic_vector_is_not_a_campaign():
    config = Similarity(coordinated=CoordinatedDetection(min_cosine=0.85))
    feed = Feed(SimilarityEngine(config, DIM))
    feed("U1", hours(0), axis(2), CAMPAIGN, exact=True)
    other = feed("U2", hours(1), unit(axis(2) + axis(3)), CAMPAIGN, exact=True)  # cosine 0.71
    assert other.coordinated.linked == []


def test_a_variant_that_bridges_two_campaigns_counts_them_all():
    feed = Feed(engine())
    v = axis(2)
    loud, threat = "强烈投诉！" + CAMPAIGN, CAMPAIGN + "，否则将向监管部门反映"  # 88 apart: two campaigns
    feed("U1", hours(0), v, loud, complaint_id="K1", exact=True)
    feed("U2", hours(1), v, loud, complaint_id="K2", exact=True)
    other = feed("U3", hours(2), v, threat, complaint_id="K3", exact=True)
    assert other.coordinated.linked == []
    feed("U4", hours(3), v, threat, complaint_id="K4", exact=True)
    bridge = feed("U5", hours(4), v, CAMPAIGN, complaint_id="K5", exact=True)  # 90+ to both
    assert sorted(bridge.coordinated.linked) == ["K1", "K2", "K3", "K4"]
    assert bridge.coordinated.count == 5  # fails: 3 (K1, K2, K5)


# --- groups: the spike alert ----------------------------------------------------------------------------


def test_a_burst_alerts_emerging_at_the_fifth_complaint():
    feed = Feed(engine())
    background(feed)
    results = [feed(f"U{i}", hours(0.5 * i), axis(0)) for i in range(6)]
    assert [r.group.alert for r in results] == [None, None, None, None, "emerging", "emerging"]
    assert [r.group.distinct_customers for r in results] == [1, 2, 3, 4, 5, 6]
    assert [r.group.cluster_size for r in results] == [1, 2, 3, 4, 5, 6]
    assert len({r.group.cluster_id for r in results}) == 1  # the id stays as the cluster grows
    [summary] = feed.engine.alert_history()
    assert summary["cluster_id"] == results[0].group.cluster_id
    assert summary["alert"] == "emerging"
    assert summary["distinct_customers"] == 6
    assert summary["first_alert_at"] == (T0 + hours(2)).isoformat(timespec="seconds")
    assert summary["members"] == [f"C{i:03d}" for i in range(301, 307)]
    assert {"信用卡", "年费"} <= {t["term"] for t in summary["terms"]}  # what makes it one matter
    assert all(t["growth"] >= 3 for t in summary["terms"])


def test_on_an_empty_detector_nothing_is_distinctive_yet():
    """With no history every word is as common as it is rare: five customers alike do not alert."""
    feed = Feed(engine())
    results = [feed(f"U{i}", hours(0.5 * i), axis(0)) for i in range(6)]
    assert all(r.group.alert is None for r in results)
    assert results[-1].group.cluster_size == 6  # one topic cluster all the same


def test_a_small_burst_never_alerts():
    feed = Feed(engine())
    background(feed)
    results = [feed(f"U{i}", hours(i), axis(0)) for i in range(4)]
    assert all(r.group.alert is None for r in results)
    assert results[-1].group.distinct_customers == 4
    assert feed.engine.alert_history() == []


def test_a_burst_on_a_busy_topic_does_not_alert():
    """Growth: the words of the burst were used every day by four regular customers for the forty days
    before; six new customers within three hours are not a new matter."""
    burst = [(f"N{i}", hours(0.5 * i)) for i in range(6)]

    quiet = Feed(engine())
    background(quiet)
    assert [quiet(c, at, axis(0)).group.alert for c, at in burst][4] == "emerging"

    busy = Feed(engine())
    regulars = [(f"R{i % 4}", -days(40) + hours(6 * i), axis(0), None) for i in range(40 * 4)]
    for customer, at, direction, raw in sorted(background_events() + regulars, key=lambda e: e[1]):
        busy(customer, at, direction, raw)
    results = [busy(c, at, axis(0)) for c, at in burst]
    assert all(r.group.alert is None for r in results)
    assert busy.engine.alert_history() == []


def test_the_burst_must_be_about_one_thing():
    feed = Feed(engine())
    results = [feed(f"U{i}", hours(i), axis(i)) for i in range(8)]  # eight customers, eight topics
    assert all(r.group.alert is None for r in results)
    assert len({r.group.cluster_id for r in results}) == 8
    assert feed.engine.clusters() == []  # no cluster of two


def test_distinct_customers_count_a_customer_once():
    feed = Feed(engine())
    background(feed)
    results = [feed(c, hours(i), axis(0)) for i, c in enumerate(["U1", "U2", "U1", "U3", "U2", "U1"])]
    assert [r.group.cluster_size for r in results] == [1, 2, 3, 4, 5, 6]
    assert [r.group.distinct_customers for r in results] == [1, 2, 2, 3, 3, 3]
    assert all(r.group.alert is None for r in results)  # six complaints, but three customers
    assert feed("U4", hours(6), axis(0)).group.alert == "emerging"  # the fourth customer


def test_major_at_major_customers():
    feed = Feed(engine(emerging_customers=3, emerging_complaints=3, major_customers=6))
    background(feed)
    results = [feed(f"U{i}", hours(i), axis(0)) for i in range(7)]
    assert [r.group.alert for r in results] == [None, None, "emerging", "emerging", "emerging", "major", "major"]
    [summary] = feed.engine.alert_history()
    assert summary["alert"] == "major"
    assert summary["first_alert_at"] == (T0 + hours(2)).isoformat(timespec="seconds")


def test_major_needs_distinct_customers():
    feed = Feed(engine(emerging_customers=3, emerging_complaints=3, major_customers=6))
    background(feed)
    customers = ["U1", "U2", "U3", "U1", "U2", "U3", "U4", "U5"]
    results = [feed(c, hours(i), axis(0)) for i, c in enumerate(customers)]
    assert all(r.group.alert == "emerging" for r in results[2:])  # eight complaints, five customers
    assert feed("U6", hours(9), axis(0)).group.alert == "major"


def test_a_cluster_of_one_customer_never_alerts():
    feed = Feed(engine(emerging_customers=2, emerging_complaints=2, major_customers=2))
    background(feed)
    results = [feed("U1", hours(i), axis(0)) for i in range(6)]
    assert all(r.group.alert is None for r in results)
    assert results[-1].group.distinct_customers == 1


# --- groups: clusters -----------------------------------------------------------------------------------

QUIET = {"emerging_customers": 50, "major_customers": 50}  # clustering without spike merges


def test_two_topics_make_two_clusters():
    feed = Feed(engine(**QUIET))
    a = [feed(f"A{i}", hours(i), axis(0)) for i in range(3)]
    b = [feed(f"B{i}", hours(3 + i), axis(1)) for i in range(3)]
    assert {r.group.cluster_id for r in a} == {"G000001"}
    assert {r.group.cluster_id for r in b} == {"G000002"}
    assert [(s["cluster_id"], s["size"]) for s in feed.engine.clusters()] == [("G000001", 3), ("G000002", 3)]


def test_converging_clusters_merge_under_the_older_id():
    # Topics a and b at cosine 0.3: each its own cluster, until complaints between them bridge the two.
    a = axis(0)
    b = unit(0.3 * axis(0) + np.sqrt(1 - 0.09) * axis(1))
    bridge = unit(a + b)
    feed = Feed(engine(**QUIET))
    first = [feed(f"A{i}", hours(i), a, exact=True) for i in range(3)]
    second = [feed(f"B{i}", hours(3 + i), b, exact=True) for i in range(3)]
    assert {r.group.cluster_id for r in first} == {"G000001"}
    assert {r.group.cluster_id for r in second} == {"G000002"}

    bridged = [feed(f"M{i}", hours(6 + i), bridge, exact=True) for i in range(2)]
    assert bridged[-1].group.cluster_id == "G000001"
    assert bridged[-1].group.cluster_size == 8
    assert bridged[-1].group.distinct_customers == 8
    [summary] = feed.engine.clusters()
    assert summary["cluster_id"] == "G000001"
    assert summary["merged_from"] == ["G000002"]
    assert sorted(summary["members"]) == sorted(f"C{i:03d}" for i in range(1, 9))
    # Later complaints on b now land in the merged cluster.
    assert feed("B9", hours(9), b, exact=True).group.cluster_id == "G000001"


def test_a_spike_pulls_its_clusters_into_one():
    """Five customers within hours on two nearby topics (cosine 0.5: too far to join, close enough for the
    spike), sharing a new name, alert as one group, under the older id."""
    a = axis(0)
    b = unit(0.5 * axis(0) + np.sqrt(0.75) * axis(1))
    feed = Feed(engine(join_similarity=0.6, merge_similarity=0.9))
    background(feed)
    raws = ["汇丰达App转账一直失败", "汇丰达App转不了账", "汇丰达App到底怎么回事，钱转不出去",
            "汇丰达App转账一直失败，急用钱", "汇丰达App转账失败三次了"]
    results = [feed(f"U{i}", hours(i), v, raw, exact=True)
               for i, (v, raw) in enumerate(zip([a, a, b, b], raws[:4], strict=True))]
    first, second = results[0].group.cluster_id, results[2].group.cluster_id
    assert [r.group.cluster_id for r in results] == [first, first, second, second] and first < second
    assert all(r.group.alert is None for r in results)
    fifth = feed("U4", hours(4), b, raws[4], exact=True)
    assert fifth.group.alert == "emerging"
    assert fifth.group.cluster_id == first
    assert fifth.group.distinct_customers == 5
    [summary] = feed.engine.alert_history()
    assert summary["merged_from"] == [second]


def test_members_leave_after_the_window():
    feed = Feed(engine(**QUIET))
    for i in range(3):
        feed(f"A{i}", hours(i), axis(0))
    for i in range(3):
        feed(f"B{i}", days(7) + hours(i), axis(0))
    [summary] = feed.engine.clusters()
    assert summary["size"] == 6

    # Fourteen days after the first three: they have left, the cluster (and its id) goes on.
    later = feed("C0", days(14) + hours(3), axis(0))
    assert later.group.cluster_id == "G000001"
    assert later.group.cluster_size == 4
    assert later.group.distinct_customers == 4
    [summary] = feed.engine.clusters()
    assert summary["size"] == 4
    assert summary["total_members"] == 7  # expired members are still listed

    # Fifteen days after the last one: a new cluster, with a new id.
    fresh = feed("D0", days(14 + 15), axis(0))
    assert fresh.group.cluster_id == "G000002"
    assert fresh.group.cluster_size == 1
    assert feed.engine.clusters() == []
    assert [s["cluster_id"] for s in feed.engine.clusters(min_size=1)] == ["G000002"]


def test_the_window_follows_the_config():
    feed = Feed(engine(window_days=3, spike_hours=24, **QUIET))
    feed("U1", hours(0), axis(0))
    feed("U2", hours(1), axis(0))
    assert feed("U3", days(3) + hours(2), axis(0)).group.cluster_id == "G000002"


def test_alert_history_keeps_an_alerted_cluster_after_it_expired():
    feed = Feed(engine())
    background(feed)
    burst = [feed(f"U{i}", hours(i), axis(0)) for i in range(6)]
    feed("X1", hours(7), axis(7), "手机银行登录不了，验证码一直收不到")  # another matter, never alerted
    alerted = burst[-1].group.cluster_id
    assert [s["cluster_id"] for s in feed.engine.alert_history()] == [alerted]

    later = feed("U9", days(45), axis(0))  # after term_days too: the matter is over
    assert later.group.cluster_id != alerted
    assert later.group.alert is None  # a new cluster: the old alert does not carry over
    [kept] = feed.engine.alert_history()
    assert kept["cluster_id"] == alerted
    assert kept["alert"] == "emerging"
    assert kept["size"] == 0
    assert kept["peak_distinct_customers"] == 6
    assert kept["total_members"] == 6
    assert kept["first_alert_at"] == (T0 + hours(4)).isoformat(timespec="seconds")


def test_summaries_count_channels_and_products_and_label_the_topic():
    target = engine(**QUIET)
    rng = np.random.default_rng(5)
    fee = ["信用卡年费被乱收，要求退还年费", "没开卡也收年费，年费必须退", "年费扣了三百，客服说不能退年费"]
    for i, raw in enumerate(fee):
        target.observe(f"F{i}", f"U{i}", T0 + hours(i), text(raw), CATEGORY, near(axis(0), rng),
                       channel="手机银行" if i else "网点", product="信用卡")
    login = ["手机银行登录不了，验证码收不到", "验证码一直收不到，登录失败"]
    for i, raw in enumerate(login):
        target.observe(f"L{i}", f"V{i}", T0 + hours(5 + i), text(raw), "电子银行", near(axis(1), rng))
    fees, logins = target.clusters()
    assert fees["members"] == ["F0", "F1", "F2"]
    assert fees["channels"] == {"手机银行": 2, "网点": 1}
    assert fees["products"] == {"信用卡": 3}
    assert logins["channels"] == {} and logins["products"] == {}
    assert "年费" in fees["label"] and "验证码" not in fees["label"]
    assert "验证码" in logins["label"] and "年费" not in logins["label"]
    assert fees["representative"] in fees["members"]


def test_summaries_use_the_engine_time_zone():
    zone = ZoneInfo("Asia/Shanghai")
    feed = Feed(SimilarityEngine(Similarity(), DIM, zone=zone))
    feed("U1", hours(0), axis(0))
    feed("U2", hours(1), axis(0))
    [summary] = feed.engine.clusters()
    assert summary["first_seen"] == "2024-06-03T17:00:00+08:00"
    assert summary["last_seen"] == "2024-06-03T18:00:00+08:00"


def test_a_burst_on_a_topic_that_was_busy_before_the_window_still_alerts():
    feed = Feed(engine())
    for i in range(100):  # a busy topic three weeks ago: all of it has left the window
        feed(f"R{i % 4}", hours(i), axis(0), "信用卡年费", exact=True)
    results = [feed(f"N{i}", days(20) + hours(i), axis(0)) for i in range(6)]
    assert results[-1].group.cluster_size == 6  # fails: the burst falls apart into clusters of one or two
    assert results[4].group.alert == "emerging"  # as it does without the old complaints


# --- persistence ----------------------------------------------------------------------------------------

HISTORY = [  # (customer, offset, topic, text)
    ("U1", hours(0), 0, FIRST),
    ("U2", hours(1), 0, None),
    ("U3", hours(2), 0, None),
    ("U1", hours(3), 0, SECOND),
    ("U4", hours(4), 3, "手机银行登录不了，验证码一直收不到"),
    ("U5", hours(5), 0, None),
]
NEXT = [
    ("U1", hours(6), 0, THIRD_NEW),  # U1's third complaint on the matter
    ("U6", hours(7), 0, None),  # the fifth customer of the burst
]


def replay(feed: Feed, complaints) -> list[SimilarityResult]:
    return [feed(customer, at, axis(topic), raw) for customer, at, topic, raw in complaints]


def test_a_saved_and_loaded_engine_carries_on_as_if_never_stopped(tmp_path):
    straight = Feed(engine(emerging_customers=5), seed=7)
    background(straight)
    replay(straight, HISTORY)
    want = replay(straight, NEXT)
    assert want[0].repeat.repeat_count == 3 and want[0].repeat.new_facts == ["金额 2,000 元"]
    assert want[1].group.alert == "emerging"  # what the test is about happens after the restart

    stopped = Feed(engine(emerging_customers=5), seed=7)
    background(stopped)
    replay(stopped, HISTORY)
    stopped.engine.save(tmp_path / "state")
    stopped.engine.save(tmp_path / "state")  # saving over an earlier state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # no staging or .old left behind
    stopped.engine = SimilarityEngine.load(tmp_path / "state")
    got = replay(stopped, NEXT)

    assert got == want
    assert stopped.engine.clusters() == straight.engine.clusters()
    assert stopped.engine.alert_history() == straight.engine.alert_history()


def test_loading_with_a_config_replaces_the_thresholds(tmp_path):
    feed = Feed(engine(), seed=3)
    background(feed)
    replay(feed, HISTORY[:3])
    feed.engine.save(tmp_path / "state")

    # More than any score, and a topic cosine no follow-up reaches: nothing repeats.
    strict = Similarity(repeat=RepeatDetection(threshold=1.5, follow_up_cosine=1.0),
                        groups=GroupDetection(emerging_customers=2, emerging_complaints=2, major_customers=3))
    feed.engine = SimilarityEngine.load(tmp_path / "state", config=strict)
    assert feed.engine.config == strict
    result = feed("U1", hours(3), axis(0), SECOND)
    assert result.repeat.is_repeat is False  # with the saved config it is U1's second complaint
    assert result.group.alert == "major"  # three customers: major under the new config, nothing under the old

    feed.engine = SimilarityEngine.load(tmp_path / "state")  # no config: the saved one
    assert feed.engine.config == Similarity()
    result = feed("U1", hours(3), axis(0), SECOND)
    assert result.repeat.is_repeat is True
    assert result.group.alert is None


def test_a_state_of_another_format_is_refused(tmp_path):
    feed = Feed(engine())
    feed("U1", hours(0), axis(0))
    feed.engine.save(tmp_path / "state")
    joblib.dump({"format": 99, "engine": None}, tmp_path / "state" / STATE_FILE)
    with pytest.raises(SimilarityStateError, match="format 99"):
        SimilarityEngine.load(tmp_path / "state")


# --- input errors ---------------------------------------------------------------------------------------


def test_a_naive_time_is_refused_and_leaves_no_trace():
    target = engine()
    with pytest.raises(ValueError, match="time zone"):
        target.observe("C1", "U1", datetime(2024, 6, 3, 9, 0), text(FIRST), CATEGORY, axis(0))
    result = target.observe("C2", "U1", T0, text(FIRST), CATEGORY, axis(0))
    assert result.repeat.is_repeat is False  # C1 was not remembered
    assert result.group.cluster_size == 1


@pytest.mark.parametrize("shape", [(8,), (1, DIM), (DIM + 1,)])
def test_a_vector_of_the_wrong_shape_is_refused(shape):
    target = engine()
    vector = np.ones(shape, np.float32) / np.sqrt(np.prod(shape))
    with pytest.raises(ValueError, match=f"{DIM}-d"):
        target.observe("C1", "U1", T0, text(FIRST), CATEGORY, vector)
    assert target.observe("C2", "U1", T0, text(FIRST), CATEGORY, axis(0)).repeat.is_repeat is False


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"emerging_customers": 5, "major_customers": 4}, "major_customers", id="major_below_emerging"),
    pytest.param({"window_days": 2, "spike_hours": 48}, "spike_hours", id="spike_as_long_as_window"),
    pytest.param({"window_days": 2, "spike_hours": 72}, "spike_hours", id="spike_longer_than_window"),
])
def test_inconsistent_group_config_is_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        GroupDetection(**fields)


def test_a_state_written_for_another_model_is_refused(tmp_path):
    from triage.similarity.engine import SimilarityStateError

    saved = engine()
    saved.model_version = "model-A"
    saved.save(tmp_path / "state")
    assert SimilarityEngine.load(tmp_path / "state", model_version="model-A").model_version == "model-A"
    with pytest.raises(SimilarityStateError, match=r"model-A.*model-B"):
        SimilarityEngine.load(tmp_path / "state", model_version="model-B")


# --- groups: matters, not topics (issue 14) ---------------------------------------------------------------

# A platform name no training text or earlier complaint contains, written differently by each customer.
NEW_NAME = ["在聚财宝平台投资的钱提现不了，客服不回", "聚财宝平台提现失败已经十天，本金拿不回来",
            "聚财宝平台说系统升级暂停提现，我的钱怎么办", "聚财宝平台的提现一直在审核中，不给到账",
            "聚财宝平台提现申请被驳回，要求退还本金", "聚财宝平台突然不能提现，怀疑跑路"]


def test_a_new_name_across_customers_alerts_even_when_slow():
    """Six customers over twelve days, each in other words, on a platform nobody named before: one matter,
    alerting at the fifth complaint, its cluster named by the platform."""
    feed = Feed(engine())
    background(feed, 600, days(80))  # a longer history: over weeks, a name is only as rare as it is long
    results = [feed(f"P{i}", days(2.4 * i), axis(i % 3), raw) for i, raw in enumerate(NEW_NAME)]
    assert [r.group.alert for r in results] == [None, None, None, None, "emerging", "emerging"]
    [summary] = feed.engine.alert_history()
    assert "财宝" in [t["term"] for t in summary["terms"]]  # jieba's cut of the new name
    assert summary["distinct_customers"] == 6
    assert summary["total_members"] == 6  # topic vectors on three axes: the terms bring them together


def test_a_same_category_spike_about_different_matters_does_not_alert():
    """Eight customers within hours, one topic vector (all fee complaints), each about a different fee at a
    different branch: a busy topic, not a group complaint."""
    feed = Feed(engine())
    background(feed)
    fees = ["城西支行收了我200元年费", "工资卡每月被扣小额账户管理费", "跨行转账手续费比宣传的高",
            "短信提醒服务费没同意就扣了", "提前还房贷被收违约金", "信用卡分期手续费算得不对",
            "存单提前支取利息少了", "外币兑换点差太大"]
    results = [feed(f"F{i}", hours(0.5 * i), axis(0), raw) for i, raw in enumerate(fees)]
    assert all(r.group.alert is None for r in results)
    assert feed.engine.alert_history() == []


def test_complaints_received_later_do_not_count_for_an_earlier_one():
    """Out-of-order received_at (a backlog flushed newest first): a complaint counts only complaints received
    before it, never later ones."""
    feed = Feed(engine())
    background(feed)
    late_first = [feed(f"L{i}", hours(4 - i), axis(0), NEW_NAME[i]) for i in range(5)]  # received T0+4h … T0
    assert all(r.group.alert is None for r in late_first)  # each sees at most the ones received before it
    latest = feed("L5", hours(5), axis(0), NEW_NAME[5])  # received after all of them
    assert latest.group.alert == "emerging"


def test_forty_unrelated_complaints_at_one_moment_do_not_alert():
    """An intake system flushing a backlog: forty customers, forty matters, one received_at — on an empty
    detector and after ordinary traffic (which uses the ordinary words: 办理进度, 态度 …)."""
    banks = ["华夏银行", "浦发银行", "兴业银行", "光大银行", "中信银行", "广发银行", "平安银行", "民生银行"]
    things = ["信用卡年费", "房贷利率", "催收电话", "跨行转账", "理财收益", "ETC扣费", "积分兑换", "存款利息",
              "保险退保", "贷款审批"]
    texts = [f"{banks[i % 8]}{things[i % 10]}：{ISSUES[i % 5]}" for i in range(40)]
    for history in (False, True):
        feed = Feed(engine(), seed=int(history))
        if history:
            background(feed)
        results = [feed(f"X{i}", hours(1), axis(i % 13), raw) for i, raw in enumerate(texts)]  # topics ⟂ banks
        assert all(r.group.alert is None for r in results), history
