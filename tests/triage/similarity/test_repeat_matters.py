"""Repeat complaints are about one matter — the same estate, branch, company, loan or card — not one topic.

A customer may have several matters open at once: each is counted on its own, and the third complaint on a
matter (not the customer's third complaint) goes to a supervisor. All complaints here carry the SAME topic
vector and category, so only what identifies a matter can tell them apart. Other customers' complaints
about noise and fees fill the window first: they make the topic's words common, as a real window does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from triage.features.prepare import prepare_text
from triage.policy import load_policy
from triage.policy.schema import Similarity
from triage.schemas import ComplaintIn, Decision, LabelProbability, Prediction, SimilarityResult
from triage.service import TriageService
from triage.similarity.corrections import (
    CorrectionError,
    MatterCorrection,
    MattersUnchanged,
    UnknownComplaints,
    correct,
    moved,
)
from triage.similarity.engine import SimilarityEngine, SimilarityStateError
from triage.similarity.matter import FOLLOW_UP, WordRarity, mask_reference, matter_keys, same_name, shared_names

DIM = 8
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
TOPIC = np.eye(DIM, dtype=np.float32)[0]  # one topic for everything
CATEGORY = "客户服务"
SUPERVISOR = "投诉处理主管"

# Other customers, other places: the words of the topic (噪音, 扰民, 小区, 物业 …) become common.
BACKGROUND = [
    "晚上十一点以后楼下烧烤店噪音扰民，小区物业不管，请相关部门处理",
    "小区旁边工地夜间施工噪音太大，孩子睡不着，物业说管不了",
    "楼上装修噪音扰民，找物业好几次了没有用，希望有人管一管",
    "广场舞音响太吵，每天晚上噪音扰民，小区居民休息不好",
    "隔壁酒吧每天晚上吵到凌晨，严重影响休息，请求处理",
    "小区门口夜市每天到凌晨还很吵，严重影响休息，请求相关部门处理",
    "信用卡年费乱收费，客服一直推脱，要求退还多收的费用",
    "银行卡被扣了不明费用，打客服电话没人接，要求说明情况",
    "贷款提前还款被收了违约金，合同里没写清楚，要求退还",
    "手机银行转账手续费突然上涨，没有任何通知，要求解释",
]

NOISE_A1 = "翠湖花园小区3栋楼下的金曲KTV每天晚上噪音扰民到凌晨两点，严重影响休息，请求处理"
FEE_B1 = "我在东风路支行办的装修贷款每月被多扣了一笔账户管理费，合同没有约定，要求退还"
NOISE_A2 = "翠湖花园小区金曲KTV晚上噪音扰民的问题还是没有解决，昨晚又唱到凌晨，希望尽快处理"
FEE_B2 = "东风路支行装修贷款的账户管理费还在扣，要求查清楚并退还"
NOISE_A3 = "第三次投诉翠湖花园小区金曲KTV噪音扰民，至今没有任何处理结果"
OTHER_ESTATE = "金桂苑小区旁边长虹建筑工地夜里还在打桩，噪音扰民，孩子没法睡觉"


def service() -> TriageService:
    policy = load_policy()
    model = SimpleNamespace(version_="test-0")  # decide() never calls the model: predictions come from the test
    engine = SimilarityEngine(policy.similarity, DIM, zone=policy.zone)  # the bank's zone, as the service has it
    return TriageService(model, policy, engine)  # type: ignore[arg-type]


def prediction(text: str, category: str = CATEGORY) -> Prediction:
    return Prediction(
        category=category, confidence=0.9,
        top_categories=[LabelProbability(label=category, probability=0.9)],
        tier="green", tier_confidence=0.9, tier_probabilities={"green": 0.9, "yellow": 0.05, "red": 0.05},
        needs_review=False, review_reasons=[], language="zh", truncated=False,
        masked_text=prepare_text(text).text, model_version="test-0")


class Stream:
    """One service, complaints in arrival order, one hour apart by default."""

    def __init__(self) -> None:
        self.service = service()
        self.at = T0
        for i, text in enumerate(BACKGROUND):
            self(f"other{i}", text, complaint_id=f"BG{i}")

    def __call__(self, customer: str, text: str, complaint_id: str, after: timedelta = timedelta(hours=1),
                 category: str = CATEGORY) -> Decision:
        self.at += after
        complaint = ComplaintIn(complaint_id=complaint_id, customer_id=customer, received_at=self.at, text=text)
        return self.service.decide(complaint, prediction(text, category), TOPIC)

    def similarity(self, customer: str, text: str, complaint_id: str) -> SimilarityResult:
        self.at += timedelta(hours=1)
        assert self.service.similarity is not None
        return self.service.similarity.observe(complaint_id, customer, self.at, prepare_text(text).text,
                                               CATEGORY, TOPIC, raw_text=text)


def supervised(decision: Decision) -> bool:
    return SUPERVISOR in [e.target for e in decision.escalations]


# --- several matters of one customer ---------------------------------------------------------------------

def test_two_matters_interleaved_in_time_are_counted_each_on_its_own():
    stream = Stream()
    a1 = stream("U1", NOISE_A1, "A1")
    b1 = stream("U1", FEE_B1, "B1", after=timedelta(days=2))
    a2 = stream("U1", NOISE_A2, "A2", after=timedelta(days=3))
    b2 = stream("U1", FEE_B2, "B2", after=timedelta(days=1))
    a3 = stream("U1", NOISE_A3, "A3", after=timedelta(days=5))

    assert [d.repeat.matter_id for d in (a1, b1, a2, b2, a3)] == ["A1", "B1", "A1", "B1", "A1"]
    assert [d.repeat.repeat_count for d in (a1, b1, a2, b2, a3)] == [1, 1, 2, 2, 3]
    assert [d.repeat.is_repeat for d in (a1, b1, a2, b2, a3)] == [False, False, True, True, True]
    # The customer's 4th and 5th complaints: only the 3rd on a matter goes to a supervisor.
    assert supervised(a3)
    assert not supervised(b2) and not supervised(a2)
    assert {r.complaint_id for r in a3.repeat.related} == {"A1", "A2"}
    assert {r.complaint_id for r in b2.repeat.related} == {"B1"}


def test_the_same_topic_at_another_estate_is_another_matter():
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    other = stream("U1", OTHER_ESTATE, "C1", after=timedelta(days=4))
    assert other.repeat.is_repeat is False
    assert other.repeat.matter_id == "C1"
    assert not supervised(stream("U1", OTHER_ESTATE.replace("每天", "天天"), "C2"))  # C's 2nd, not A's


def test_a_repeat_says_what_it_shares_with_the_matter():
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    again = stream("U1", NOISE_A2, "A2", after=timedelta(days=2))
    assert any("翠湖花园" in s for s in again.repeat.shared)


def test_the_same_card_number_is_a_shared_reference_never_shown_whole():
    card = "6222021234567890128"  # passes the Luhn check: masked before anything is stored
    stream = Stream()
    stream.similarity("U1", f"卡号{card}上个月被扣了一笔不明费用，请核实", "K1")
    again = stream.similarity("U1", f"卡号{card}的那笔不明扣费怎么还没有结果", "K2")
    assert again.repeat.is_repeat and again.repeat.matter_id == "K1"
    shown = " ".join(again.repeat.shared) + again.model_dump_json()
    assert card not in shown and card[:6] not in shown and card[-4:] not in shown
    assert any(s.startswith(card[:2]) and "*" in s for s in again.repeat.shared)


def test_a_short_follow_up_joins_the_matter_of_its_topic():
    stream = Stream()
    stream("U1", FEE_B1, "B1")
    follow_up = stream("U1", "上周反映过的事到现在没人回复", "B2", after=timedelta(days=7))
    assert (follow_up.repeat.is_repeat, follow_up.repeat.matter_id) == (True, "B1")


def test_a_follow_up_naming_another_place_is_not_a_repeat_of_this_one():
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    other = stream("U1", "再次反映：金桂苑小区旁边长虹建筑工地深夜施工", "C1", after=timedelta(days=3))
    assert other.repeat.is_repeat is False


# --- new facts -------------------------------------------------------------------------------------------

def test_a_refiling_with_a_new_amount_has_new_facts_and_a_reworded_one_has_none():
    stream = Stream()
    stream("U1", "东风路支行的装修贷款3月被多扣了账户管理费225元，合同里没有这项费用，要求退还", "B1")
    reworded = stream("U1", "东风路支行装修贷款多扣的225元账户管理费还没退，合同里根本没有这项费用",
                      "B2", after=timedelta(days=5))
    new_amount = stream("U1", "东风路支行装修贷款4月又多扣了账户管理费450元，合同里没有这项费用，要求退还",
                        "B3", after=timedelta(days=30))
    assert reworded.repeat.is_repeat and reworded.repeat.new_facts == []
    assert new_amount.repeat.is_repeat and "金额 450 元" in new_amount.repeat.new_facts


def test_a_repost_with_added_opinion_has_no_new_facts_one_with_an_added_amount_has():
    first = ("东风路支行给我办的装修贷款每月多扣一笔账户管理费225元。合同里没有这项费用，客服说是系统收取的。"
             "3月10日我到网点要求退还，至今没有结果")
    stream = Stream()
    stream("U1", first, "B1")
    # The whole text again, one word changed, and a paragraph of opinion: its date and amount are retold.
    opinion_added = "。这种做法实在太不负责任了，希望领导高度重视，还消费者公道"
    opinion = stream("U1", first.replace("每月", "每个月") + opinion_added, "B2", after=timedelta(days=5))
    amount = stream("U1", first + "。4月又多扣了450元", "B3", after=timedelta(days=30))
    assert opinion.repeat.is_repeat and opinion.repeat.new_facts == []
    assert amount.repeat.is_repeat and amount.repeat.new_facts == ["金额 450 元"]


def test_a_reply_received_is_a_new_fact():
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    answered = stream("U1", "翠湖花园小区金曲KTV噪音扰民的事，收到了街道的回复，但晚上噪音还是一样",
                      "A2", after=timedelta(days=6))
    assert answered.repeat.is_repeat
    assert "事件 收到答复" in answered.repeat.new_facts


# --- the pieces ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "name"), [
    pytest.param("杭州市西湖区翠湖花园小区的物业", "翠湖花园小区", id="estate_without_its_district"),
    pytest.param("在东风路支行办的贷款", "东风路支行", id="branch"),
    pytest.param("长虹建筑工程有限公司在施工", "长虹建筑工程有限公司", id="company"),
])
def test_names_of_things(text, name):
    assert any(same_name(name, found) for found in matter_keys(prepare_text(text).text).names)


def test_anonymised_and_bare_kind_words_are_no_names():
    names = matter_keys(prepare_text("XX银行信用卡中心说小区的物业公司会处理").text).names
    assert not any("XX" in n for n in names)
    assert "物业公司" not in names and "小区" not in names


def test_references_are_kept_hashed_and_shown_masked():
    keys = matter_keys("合同编号XF20230518-0712", identifiers=["XF20230518-0712"])
    assert list(keys.references.values()) == [mask_reference("XF20230518-0712")]
    assert "XF20230518-0712" not in "".join(keys.references) + "".join(keys.references.values())


def test_shared_names_match_a_name_inside_a_longer_spelling():
    assert shared_names(["翠湖花园"], ["A1区翠湖花园小区"]) == ["翠湖花园"]
    assert shared_names(["翠湖花园"], ["金桂苑"]) == []


def test_word_rarity_counts_customers_and_weighs_rare_words_up():
    rarity = WordRarity()
    for words in ({"噪音", "扰民", "翠湖"}, {"噪音", "扰民"}, {"噪音", "年费"}):
        rarity.add(words)
    rarity.customers = 3
    assert rarity.idf("翠湖") > rarity.idf("扰民") > rarity.idf("噪音")
    # Sharing the rare word counts more than sharing as many common ones.
    assert rarity.cosine(frozenset({"翠湖", "噪音"}), frozenset({"翠湖", "扰民"})) > \
        rarity.cosine(frozenset({"噪音", "翠湖"}), frozenset({"噪音", "年费"}))
    rarity.remove({"噪音", "年费"})
    assert rarity.customers_using["噪音"] == 2 and "年费" not in rarity.customers_using


@pytest.mark.parametrize("text", ["上周反映过，至今没人回复", "第三次投诉了", "还是上次说的那笔贷款", "原帖链接：…"])
def test_follow_up_markers(text):
    assert FOLLOW_UP.search(text)


def test_a_first_complaint_is_no_follow_up():
    assert not FOLLOW_UP.search(prepare_text(NOISE_A1).text)


def test_the_config_has_the_repeat_knobs():
    assert Similarity().repeat.threshold > 0 and Similarity().repeat.new_facts_words >= 1


# --- a lead's corrections --------------------------------------------------------------------------------

def test_a_complaint_split_off_its_matter_starts_its_own_and_the_next_one_follows_it():
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    a2 = stream("U1", NOISE_A2, "A2", after=timedelta(days=2))
    assert a2.repeat.matter_id == "A1"
    engine = stream.service.similarity
    assert engine is not None
    assert engine.correct_matters("U1", MatterCorrection("split", ("A2",)), strict=True) == {"A2": "A2"}
    # The next complaint like A2 is A2's second, not A1's third: no supervisor.
    a3 = stream("U1", NOISE_A2.replace("昨晚", "前晚"), "A3", after=timedelta(days=2))
    assert (a3.repeat.matter_id, a3.repeat.repeat_count) == ("A2", 2)
    assert not supervised(a3)


def test_joined_matters_count_as_one_the_third_complaint_across_them_escalates():
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    stream("U1", OTHER_ESTATE, "C1", after=timedelta(days=1))
    engine = stream.service.similarity
    assert engine is not None
    # Without the join the next complaint on C would be C's second; the lead says A and C are one matter.
    assert engine.correct_matters("U1", MatterCorrection("join", ("A1", "C1")), strict=True) == {"C1": "A1"}
    c2 = stream("U1", OTHER_ESTATE.replace("每天", "天天"), "C2", after=timedelta(days=1))
    assert (c2.repeat.matter_id, c2.repeat.repeat_count) == ("A1", 3)
    assert supervised(c2)


def test_splitting_a_matters_first_complaint_leaves_the_rest_one_matter_named_by_its_next():
    assignment = {"A1": "A1", "B1": "B1", "A2": "A1", "A3": "A1"}
    after = correct(assignment, MatterCorrection("split", ("A1",)))
    assert after == {"A1": "A1", "B1": "B1", "A2": "A2", "A3": "A2"}
    assert moved(assignment, after) == {"A2": "A2", "A3": "A2"}


def test_a_join_takes_the_name_of_the_earliest_matter_whichever_complaint_names_it():
    assignment = {"A1": "A1", "B1": "B1", "A2": "A1", "B2": "B1", "C1": "C1"}
    assert correct(assignment, MatterCorrection("join", ("B2", "A2"))) == \
        {"A1": "A1", "B1": "A1", "A2": "A1", "B2": "A1", "C1": "C1"}


def test_corrections_that_cannot_be_applied_say_why():
    assignment = {"A1": "A1", "A2": "A1", "B1": "B1"}
    with pytest.raises(UnknownComplaints, match="'X9'"):
        correct(assignment, MatterCorrection("split", ("X9",)))
    with pytest.raises(MattersUnchanged, match="only complaint"):
        correct(assignment, MatterCorrection("split", ("B1",)))
    with pytest.raises(MattersUnchanged, match="one matter already"):
        correct(assignment, MatterCorrection("join", ("A1", "A2")))
    with pytest.raises(CorrectionError, match="at least two"):
        MatterCorrection("join", ("A1",))
    with pytest.raises(CorrectionError, match="once"):
        MatterCorrection("join", ("A1", "A1"))
    # Replayed on a window that expired some of them: what is left is corrected, the rest ignored.
    assert correct(assignment, MatterCorrection("join", ("X9", "A1", "B1")), strict=False)["B1"] == "A1"
    assert correct(assignment, MatterCorrection("split", ("X9",)), strict=False) == assignment


def test_corrections_survive_a_saved_and_loaded_window(tmp_path):
    stream = Stream()
    stream("U1", NOISE_A1, "A1")
    stream("U1", OTHER_ESTATE, "C1", after=timedelta(days=1))
    engine = stream.service.similarity
    assert engine is not None
    engine.correct_matters("U1", MatterCorrection("join", ("A1", "C1")))
    engine.corrections_applied = 7
    engine.save(tmp_path / "window")
    loaded = SimilarityEngine.load(tmp_path / "window")
    assert loaded.repeats.matters("U1") == {"A1": "A1", "C1": "A1"}
    assert loaded.corrections_applied == 7


# --- the reference key -----------------------------------------------------------------------------------

def test_references_are_hashed_with_the_key_given():
    reference = "XF20230518-0712"
    default = matter_keys("合同", identifiers=[reference])
    keyed = matter_keys("合同", identifiers=[reference], key=b"a service's own secret")
    assert list(default.references.values()) == list(keyed.references.values())  # shown the same, masked
    assert set(default.references).isdisjoint(keyed.references)  # hashed apart


def test_a_window_keeps_its_key_out_of_the_snapshot_and_refuses_another(tmp_path):
    secret = b"k" * 80  # longer than BLAKE2b's 64-byte keys: reduced, not refused
    engine = SimilarityEngine(Similarity(), DIM, reference_key=secret)
    card = "6222021234567890128"
    first, second = f"卡号{card}上个月被扣了一笔不明费用，请核实", f"卡号{card}的那笔不明扣费怎么还没有结果"
    engine.observe("K1", "U1", T0, prepare_text(first).text, CATEGORY, TOPIC, raw_text=first)
    engine.save(tmp_path / "window")
    saved = b"".join(p.read_bytes() for p in (tmp_path / "window").rglob("*") if p.is_file())
    assert secret not in saved and card.encode() not in saved
    with pytest.raises(SimilarityStateError, match="another reference key"):
        SimilarityEngine.load(tmp_path / "window")  # the library's default key
    loaded = SimilarityEngine.load(tmp_path / "window", reference_key=secret)
    again = loaded.observe("K2", "U1", T0 + timedelta(days=1), prepare_text(second).text, CATEGORY, TOPIC,
                           raw_text=second)
    assert again.repeat.matter_id == "K1" and any(s.startswith(card[:2]) for s in again.repeat.shared)


def test_new_facts_read_the_bank_day_whatever_zone_the_time_was_written_in():
    # 01:30 in Beijing is 17:30 UTC the day before. A replica reads times back from the store in UTC, the worker
    # that took the complaint has the client's zone: both must see one bank day, or they disagree on new facts.
    from zoneinfo import ZoneInfo

    first_at = datetime(2024, 3, 5, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    texts = [("B1", "东风路支行的装修贷款被多扣了账户管理费225元，合同里没有这项费用，要求退还"),
             ("B2", "东风路支行装修贷款多扣的225元账户管理费，3月5日我已经投诉过，至今没有退还")]

    def new_facts_with_times_in(zone: ZoneInfo | type[UTC]) -> list[list[str]]:
        stream = Stream()
        found = []
        for (complaint_id, text), at in zip(texts, (first_at, first_at + timedelta(days=20)), strict=True):
            complaint = ComplaintIn(complaint_id=complaint_id, customer_id="U1", received_at=at.astimezone(zone),
                                    text=text)
            found.append(stream.service.decide(complaint, prediction(text), TOPIC).repeat.new_facts)
        return found

    in_bank_time = new_facts_with_times_in(ZoneInfo("Asia/Shanghai"))
    assert in_bank_time == new_facts_with_times_in(UTC)
    assert in_bank_time[1] == []  # 3月5日 is the day of the first filing: retold, not new
