"""The facts of a complaint (amounts, dates, contract/case numbers, events) and what a later complaint on the
same matter adds to the earlier ones.

Texts go through `prepare_text` first, as in the service: normalised (full-width punctuation folded) and
PII-masked, so a bank card number arrives as `[银行卡号]`.
"""

from __future__ import annotations

import pytest

from triage.features.prepare import prepare_text
from triage.features.tokenizer import tokenize
from triage.similarity.facts import EVENTS, Facts, extract_facts, new_facts, untold


def facts(raw: str) -> Facts:
    return extract_facts(prepare_text(raw).text)


def added(earlier: list[str], current: str) -> list[str]:
    """What `current` brings that none of `earlier` mentioned, as the repeat detector asks it."""
    known = Facts.empty()
    for raw in earlier:
        known = known.union(facts(raw))
    return new_facts(facts(current), known)


# --- extraction -----------------------------------------------------------------------------------------

AMOUNTS = [
    pytest.param("信用卡被多扣了8600元", 8600.0, id="plain"),
    pytest.param("信用卡被多扣了8,600元", 8600.0, id="thousands_separator"),
    pytest.param("信用卡被多扣了8，600元", 8600.0, id="full_width_separator"),
    pytest.param("信用卡被多扣了8600.00元", 8600.0, id="decimals"),
    pytest.param("信用卡被多扣了八千六百元", 8600.0, id="chinese_numerals"),
    pytest.param("理财亏了1.5万元", 15000.0, id="wan"),
    pytest.param("账单多出3862.17元", 3862.17, id="cents"),
]


@pytest.mark.parametrize(("raw", "value"), AMOUNTS)
def test_amounts(raw, value):
    assert facts(raw).amounts == {value}


def test_percentages_counts_and_years_are_not_amounts():
    found = facts("年利率3.5%，分12期，2024年开的卡")
    assert found.amounts == frozenset()


DATES = [
    pytest.param("6月10日被扣款", "6月10日", id="month_day"),
    pytest.param("6月10号被扣款", "6月10号", id="month_day_hao"),
    pytest.param("2024年6月10日被扣款", "2024年6月10日", id="year_month_day"),
    pytest.param("2024-06-10被扣款", "2024-06-10", id="iso"),
    pytest.param("本月20日催收又来了", "本月20日", id="this_month"),
    pytest.param("上个月20号到期的", "上个月20号", id="last_month"),
    pytest.param("这周三他们又来了", "这周三", id="weekday"),
    pytest.param("6.10那天被扣款", "6.10", id="dotted"),
    pytest.param("6 月 10 日被扣款", "6月10日", id="spaces_squashed"),
]


@pytest.mark.parametrize(("raw", "date"), DATES)
def test_dates(raw, date):
    assert facts(raw).dates == {date}


def test_decimal_amounts_and_rates_are_not_dotted_dates():
    found = facts("扣了3.15元，利率3.5%，共1.5万")
    assert found.dates == frozenset()
    assert found.amounts == {3.15, 15000.0}


IDENTIFIERS = [
    pytest.param("合同编号XF20230518-0712", "XF20230518-0712", id="contract"),
    pytest.param("合同号 GR2019-0815-3367", "GR2019-0815-3367", id="contract_dashes"),
    pytest.param("合同编号xf20230518-0712", "XF20230518-0712", id="upper_cased"),
    # Full-width brackets are folded by normalisation, so both spellings give one identifier.
    pytest.param("案号（2024）京0105民初字第3318号", "(2024)京0105民初字第3318号", id="case_full_width"),
    pytest.param("案号(2024)京0105民初字第3318号", "(2024)京0105民初字第3318号", id="case_ascii"),
    pytest.param("订单号20240610123456", "20240610123456", id="long_reference"),
]


@pytest.mark.parametrize(("raw", "identifier"), IDENTIFIERS)
def test_identifiers(raw, identifier):
    assert facts(raw).identifiers == {identifier}


def test_a_date_inside_an_identifier_is_not_a_date_nor_an_amount():
    found = facts("合同编号XF20230518-0712的贷款")
    assert found.identifiers == {"XF20230518-0712"}
    assert found.dates == frozenset()
    assert found.amounts == frozenset()


def test_masked_personal_numbers_are_not_identifiers():
    text = prepare_text("我的卡号4111111111111111被冻结，请打13812345678联系我").text
    assert "[银行卡号]" in text and "[手机号]" in text  # the mask did its job
    found = extract_facts(text)
    assert found.identifiers == frozenset()
    assert found.events == {"冻结"}
    assert extract_facts("卡号[银行卡号]被冻结,身份证[身份证号]").identifiers == frozenset()


EVENT_SPELLINGS = [
    pytest.param("收到了律师函", "律师函", id="lawyer_letter"),
    pytest.param("今天收到法院的短信", "律师函", id="court_sms"),
    pytest.param("催收人员上门了", "上门", id="visit"),
    pytest.param("催收跑到我家里来", "上门", id="came_home"),
    pytest.param("在门口堵门", "上门", id="blocked_door"),
    pytest.param("他们打到我单位去了", "联系单位", id="called_work"),
    pytest.param("车被拖走了", "拖车", id="towed"),
    pytest.param("网点装修已经完成了", "进展", id="work_done"),
    pytest.param("听说公园即将于9月启动建设", "进展", id="work_about_to_start"),
]


@pytest.mark.parametrize(("raw", "event"), EVENT_SPELLINGS)
def test_events(raw, event):
    assert event in facts(raw).events
    assert event in EVENTS


def test_nothing_in_a_plain_follow_up():
    assert facts("上周反映过，至今没人回复") == Facts.empty()


# --- new facts ------------------------------------------------------------------------------------------

FIRST = "信用卡6月10日被多扣了8600元年费，合同编号XF20230518-0712，要求退还"


def test_refiling_with_the_same_facts_adds_nothing():
    again = "再次投诉：6月10日我的信用卡多扣8,600元的年费，合同xf20230518-0712，请退还"
    assert added([FIRST], again) == []


def test_follow_up_in_new_words_adds_nothing():
    assert added([FIRST], "上周反映过，至今没人回复") == []
    assert added([FIRST], "我已经打了好几次电话了，你们到底管不管？") == []


@pytest.mark.parametrize("spelling", ["8600元", "8,600元", "8600.00元", "八千六百元", "0.86万元"])
def test_same_amount_in_another_spelling_is_known(spelling):
    assert added([FIRST], f"多扣的{spelling}还没退") == []


def test_amounts_within_half_a_percent_are_the_same_amount():
    assert added(["扣了3150元"], "扣了3,160元") == []  # 0.3 %: a rounding, not a new amount
    assert added(["扣了3150元"], "扣了3,200元") == ["金额 3,200 元"]


def test_each_kind_of_new_fact_is_named():
    current = ("本月20日又扣了3,150元，合同编号XF20230518-0712，"
               "案号（2024）京0105民初字第3318号，收到律师函，催收还上门了")
    assert added(["信用卡被多扣了8600元年费"], current) == [
        "金额 3,150 元",
        "日期 本月20日",
        "编号 (2****************8号",  # (2024)京0105民初字第3318号, masked
        "编号 XF***********12",  # XF20230518-0712
        "事件 上门",
        "事件 律师函",
    ]


def test_new_facts_are_measured_against_every_earlier_complaint():
    earlier = ["信用卡被多扣了8600元", "6月10日扣的，合同编号XF20230518-0712"]
    assert added(earlier, "6月10日扣的8600元，合同编号XF20230518-0712，还是没退") == []
    assert added(earlier, "6月10日扣的8600元，今天又扣了1200.50元") == ["金额 1,200.50 元"]


def test_known_event_in_another_spelling_is_known():
    assert added(["催收人员上门催债"], "催收又来家里堵门了") == []
    assert added(["催收人员上门催债"], "催收又来家里堵门了，还打到我单位") == ["事件 联系单位"]


def test_no_earlier_complaints_makes_every_fact_new():
    assert added([], "6月10日扣了8600元") == ["金额 8,600 元", "日期 6月10日", "事件 扣款"]


@pytest.mark.parametrize(("first", "again"), [
    pytest.param("6月10日被扣款", "6月10号被扣款", id="ri_vs_hao"),
    pytest.param("本月20日催收上门", "本月20号催收上门", id="this_month_ri_vs_hao"),
    pytest.param("2024年6月10日被扣款", "2024-06-10被扣款", id="chinese_vs_iso"),
])
def test_same_date_in_another_spelling_is_known(first, again):
    assert added([first], again) == []


# --- dates retold and replies received --------------------------------------------------------------------

def test_a_date_up_to_the_last_filing_retells_the_story():
    from datetime import date

    from triage.similarity.facts import resolve_date

    current = facts("我们曾于2024年5月6日反映过，6月1日又去了网点，7月2日收到了催收短信")
    found = new_facts(current, Facts.empty(), on=date(2024, 7, 3), last_filed=date(2024, 6, 1))
    assert found == ["日期 7月2日"]  # 5月6日 and 6月1日 happened before the last filing
    assert resolve_date("12月30日", date(2024, 3, 1)) == date(2023, 12, 30)  # the last 30 December
    assert resolve_date("本月20日", date(2024, 3, 1)) is None  # relative: kept as before


@pytest.mark.parametrize(("raw", "replied"), [
    pytest.param("上次反映后收到了街道的回复", True, id="received"),
    pytest.param("银行回复称系统升级导致", True, id="reply_says"),
    pytest.param("至今没有给予任何答复", False, id="none_given"),
    pytest.param("期待早日回复", False, id="awaited"),
    pytest.param("执法人员给我反馈信息是对方手续合法", True, id="feedback_given_to_me"),
    pytest.param("部门的答复是正在研究", True, id="the_reply_is"),
    pytest.param("希望尽快给我回复", False, id="asked_for"),
])
def test_a_reply_received_is_an_event_an_awaited_one_is_not(raw, replied):
    assert ("收到答复" in facts(raw).events) is replied


# --- what a re-post retells -------------------------------------------------------------------------------

EARLIER = "东风路支行给我办的装修贷款每月多扣一笔账户管理费225元。合同里没有这项费用，要求退还"


def words_of(raw: str) -> str:
    return " ".join(tokenize(prepare_text(raw).text))


def test_a_repost_keeps_only_the_clauses_it_did_not_write_before():
    repost = prepare_text(EARLIER + "。银行回复称这是系统收取的！").text
    assert untold(repost, [words_of(EARLIER)]) == "银行回复称这是系统收取的"


def test_a_clause_with_a_word_changed_is_still_retold():
    reworded = prepare_text("东风路支行给我办的装修贷款每个月多扣一笔账户管理费225元").text
    assert untold(reworded, [words_of(EARLIER)]) == ""


def test_a_new_clause_is_new_however_close_its_topic():
    new = prepare_text("4月又多扣了450元").text
    assert untold(new, [words_of(EARLIER)]) == new


def test_please_should_not_be_wished_progress():
    assert "进展" not in facts("希望尽快完成维修").events
