"""Group alerts name one concrete matter (issue 14): what made tipdm's stream alert on things that are not
one matter — a lone everyday word (门窗, 临街), a slogan of the season quoted by unrelated petitions
(不忘初心、牢记使命), two accounts pasting one text — and the matters that must still alert beside them.

No model: topic vectors are made by hand (a matter or topic is a basis vector plus a little noise), so what
is tested is the detector's reading of the words.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from triage.features.prepare import prepare_text
from triage.policy.schema import Similarity
from triage.schemas import SimilarityResult
from triage.similarity.engine import SimilarityEngine
from triage.similarity.terms import names_one_thing

DIM = 16
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]
# Six petitions about six different things (a night stall, a road, insects, a fire corridor, drills, a bus).
UNRELATED = ["小区楼下夜宵摊油烟扰民，晚上睡不着", "新修国道离我家房子只有三米，要求拆迁补偿",
             "家里出现没见过的虫子，请告知防治办法", "邻居私自封闭消防连廊，占用公摊面积",
             "学校军训喇叭从早到晚吵个不停", "公交线路调整以后老人出行很不方便"]


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


class Feed:
    def __init__(self, seed: int = 0):
        self.engine = SimilarityEngine(Similarity(), DIM)
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def __call__(self, customer: str, at: timedelta, direction: np.ndarray, raw: str, exact: bool = False
                 ) -> SimilarityResult:
        self.count += 1
        vector = direction if exact else direction + 0.05 * self.rng.standard_normal(DIM).astype(np.float32)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        return self.engine.observe(f"C{self.count:03d}", customer, T0 + at, prepare_text(raw).text, "其他", vector)

    def background(self, n: int = 300, before: timedelta = timedelta(days=40)) -> None:
        """Ordinary traffic before T0, so that the detector has a history to tell a new name from."""
        for i in range(n):
            self(f"B{i}", -before + before * i / n, axis(8 + i % 8),
                 f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}")


def alerts(results: list[SimilarityResult]) -> list[str | None]:
    return [r.group.alert for r in results]


def test_everyday_words_name_a_kind_of_thing_and_names_one_thing():
    assert not names_one_thing("门窗") and not names_one_thing("临街") and not names_one_thing("美食")
    assert names_one_thing("丽发") and names_one_thing("广铁集团") and names_one_thing("18.5")
    assert names_one_thing("睿鑫")  # a name no dictionary holds


def test_a_lone_everyday_word_across_unrelated_complaints_does_not_alert():
    """Six customers within hours, six matters, all mentioning doors and windows (门窗), on one topic vector:
    a word of everyday language bursting is not one matter."""
    feed = Feed()
    feed.background()
    results = [feed(f"W{i}", timedelta(hours=i), axis(0), f"{matter}。门窗。没人管")
               for i, matter in enumerate(UNRELATED)]
    assert alerts(results) == [None] * 6
    assert feed.engine.alert_history() == []


def test_a_lone_new_name_across_customers_within_hours_alerts():
    """The same six complaints naming one new name instead (睿鑫, a platform no dictionary holds): one name far
    beyond chance within 48 h, on complaints that read alike, is a matter."""
    feed = Feed()
    feed.background()
    results = [feed(f"N{i}", timedelta(hours=i), axis(0), f"{matter}。睿鑫。没人管")
               for i, matter in enumerate(UNRELATED)]
    assert "emerging" in alerts(results)
    [summary] = feed.engine.alert_history()
    assert "睿鑫" in [t["term"] for t in summary["terms"]]


SLOGAN = "作为“不忘初心、牢记使命”主题教育的实际行动，为民解难题"


def test_a_slogan_quoted_by_unrelated_petitions_over_weeks_does_not_alert():
    """Six petitions over three weeks, each about its own thing, each quoting the season's slogan: two rare
    words shared (不忘, 初心), nothing else — not one matter."""
    feed = Feed()
    feed.background(600, timedelta(days=80))
    results = [feed(f"S{i}", timedelta(days=3.5 * i), axis(i % 6), f"{matter}。恳请政府{SLOGAN}")
               for i, matter in enumerate(UNRELATED)]
    assert alerts(results) == [None] * 6


def test_two_accounts_pasting_one_text_do_not_make_unrelated_petitions_alike():
    """The slogan again, but two of the petitions are one text posted by two accounts at the same moment (a
    copy-paste campaign): copies agree with each other by construction and say nothing of the others."""
    feed = Feed()
    feed.background(600, timedelta(days=80))
    pasted = f"{UNRELATED[0]}。恳请政府{SLOGAN}"
    results = [feed("S0", timedelta(days=0), axis(0), pasted, exact=True),
               feed("S0-other-account", timedelta(days=0, minutes=1), axis(0), pasted, exact=True)]
    assert results[1].coordinated.linked  # the detector sees the campaign
    results += [feed(f"S{i}", timedelta(days=3.5 * i), axis(i % 6), f"{matter}。恳请政府{SLOGAN}")
                for i, matter in enumerate(UNRELATED[1:4], start=1)]
    assert alerts(results) == [None] * 5


def test_a_matter_named_over_weeks_still_alerts_beside_the_slogan():
    """Customers of one estate over three weeks, each in their own words but about one thing (睿鑫花园's
    delayed handover and its parking spaces sold with the flats), some quoting the slogan too: a matter."""
    feed = Feed()
    feed.background(600, timedelta(days=80))
    texts = ["睿鑫花园延期交房，开发商还要求捆绑购买车位", "睿鑫花园到现在不交房，车位必须一起买才给签合同",
             f"睿鑫花园交房一拖再拖，恳请政府{SLOGAN}", "睿鑫花园开发商强制捆绑车位，交房日期一延再延",
             "我们睿鑫花园业主要求按合同交房，拒绝捆绑车位", f"睿鑫花园延期交房捆绑车位，{SLOGAN}"]
    results = [feed(f"E{i}", timedelta(days=3.5 * i), axis(i % 3), raw) for i, raw in enumerate(texts)]
    assert "emerging" in alerts(results)
    [summary] = feed.engine.alert_history()
    assert summary["peak_distinct_customers"] >= 5  # the first has left the 14-day window by the sixth
