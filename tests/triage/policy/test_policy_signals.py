"""Signals read from the complaint text: amounts and the six lexicons, each with the evidence that fired
it; negated and question clauses are dropped (distress excepted).

Every signal must carry a span into the text it was read from: text[start:end] == evidence.
"""

from __future__ import annotations

import pytest

from triage.policy.schema import SIGNAL_KINDS
from triage.policy.signals import find_amounts, largest_amount, read_signals


def kinds(text: str) -> set[str]:
    return {s.kind for s in read_signals(text)}


def evidence_of(text: str, kind: str) -> list[str]:
    return [s.evidence for s in read_signals(text) if s.kind == kind]


def assert_spans(text: str) -> None:
    for signal in read_signals(text):
        assert text[signal.start:signal.end] == signal.evidence, (text, signal)
        assert signal.kind in SIGNAL_KINDS


# --- amounts --------------------------------------------------------------------------------------------

AMOUNTS = [
    pytest.param("我的卡被盗刷了5万元", 50_000, "5万元", id="wan_yuan"),
    pytest.param("扣了我3,000元手续费", 3_000, "3,000元", id="thousands_separator"),
    pytest.param("扣了我3，000元手续费", 3_000, "3，000元", id="full_width_separator"),
    pytest.param("被骗走一万二", 12_000, "一万二", id="chinese_yi_wan_er"),
    pytest.param("转走了1.2w", 12_000, "1.2w", id="decimal_w"),
    pytest.param("转走了1.2W", 12_000, "1.2W", id="decimal_capital_w"),
    pytest.param("少了两千多", 2_000, "两千多", id="liang_qian_duo"),
    pytest.param("扣了八千五百块", 8_500, "八千五百块", id="ba_qian_wu_bai_kuai"),
    pytest.param("账单多出3862.17元", 3_862.17, "3862.17元", id="decimal_yuan"),
    pytest.param("年费300元", 300, "300元", id="plain_yuan"),
    pytest.param("收了我5k的服务费", 5_000, "5k", id="k"),
    pytest.param("理财亏了20万", 200_000, "20万", id="wan_without_yuan"),
    pytest.param("损失一万二千元", 12_000, "一万二千元", id="chinese_full"),
    pytest.param("罚息五百元", 500, "五百元", id="chinese_hundreds_yuan"),
    pytest.param("扣了3000块钱", 3_000, "3000块", id="kuai"),
    pytest.param("被转走 3000 元", 3_000, "3000 元", id="spaced"),
    pytest.param("一共10000人民币", 10_000, "10000人民币", id="renminbi"),
]


@pytest.mark.parametrize(("text", "value", "evidence"), AMOUNTS)
def test_amounts(text, value, evidence):
    amounts = find_amounts(text)
    assert [s.evidence for s in amounts] == [evidence]
    assert amounts[0].value == pytest.approx(value)
    assert largest_amount(read_signals(text)) == pytest.approx(value)
    assert_spans(text)


NOT_AMOUNTS = [
    pytest.param("2025年9月30日我去了网点", id="date"),
    pytest.param("请回电[手机号]", id="phone_placeholder"),
    pytest.param("卡号[银行卡号]被冻结", id="card_placeholder"),
    pytest.param("大家千万别信他们的话", id="qian_wan_bie"),
    pytest.param("万一再出问题怎么办", id="wan_yi"),
    pytest.param("第三次打电话了", id="ordinal"),
    pytest.param("订单号123456789没有到账", id="order_number"),
    pytest.param("排队等了2个小时", id="count_of_hours"),
    pytest.param("早上9点到下午5点", id="clock_time"),
]


@pytest.mark.parametrize("text", NOT_AMOUNTS)
def test_no_amount(text):
    assert find_amounts(text) == []
    assert largest_amount(read_signals(text)) is None


def test_largest_amount_wins():
    text = "先扣了300元，后来又被转走2万元，一共损失两万三百"
    assert largest_amount(read_signals(text)) == pytest.approx(20_300)
    assert_spans(text)


# --- the lexicons: what fires ---------------------------------------------------------------------------

FIRES = [
    # fund_loss
    pytest.param("我的信用卡昨晚在境外被盗刷了", "fund_loss", "被盗刷", id="fund_loss_stolen_card"),
    pytest.param("有人盗刷了我的卡", "fund_loss", "盗刷", id="fund_loss_daoshua"),
    pytest.param("我被骗了三万块", "fund_loss", "被骗", id="fund_loss_cheated"),
    pytest.param("接到诈骗电话后钱就没了", "fund_loss", "诈骗", id="fund_loss_fraud"),
    pytest.param("卡里的钱莫名其妙被扣了", "fund_loss", "莫名其妙被扣", id="fund_loss_unexplained_debit"),
    pytest.param("账户莫名其妙少了两千", "fund_loss", "莫名其妙少", id="fund_loss_unexplained_shortfall"),
    pytest.param("未经我本人同意就扣款了", "fund_loss", "未经我本人同意就扣", id="fund_loss_unauthorised_debit"),
    pytest.param("未经授权发生了一笔交易", "fund_loss", "未经授权发生了一笔交易", id="fund_loss_unauthorised_txn"),
    pytest.param("卡在身上却异地取现了", "fund_loss", "异地取现", id="fund_loss_remote_withdrawal"),
    pytest.param("存款不翼而飞", "fund_loss", "不翼而飞", id="fund_loss_vanished"),
    # data_leak
    pytest.param("我的个人信息泄露了", "data_leak", "泄露", id="data_leak_leak"),
    pytest.param("你们把客户资料倒卖给中介", "data_leak", "倒卖", id="data_leak_resold"),
    pytest.param("陌生人知道我的贷款金额", "data_leak", "知道我的贷款", id="data_leak_stranger_knows"),
    # external_escalation
    pytest.param("我要向金融监管总局投诉", "external_escalation", "金融监管总局", id="external_nfra"),
    pytest.param("我已经向银保监会反映了", "external_escalation", "银保监会", id="external_cbirc"),
    pytest.param("我会打12378热线", "external_escalation", "12378", id="external_12378"),
    pytest.param("我要去人民银行反映", "external_escalation", "人民银行", id="external_pboc"),
    pytest.param("我已经报警了", "external_escalation", "报警", id="external_police"),
    pytest.param("我会去法院起诉你们", "external_escalation", "法院", id="external_court"),
    pytest.param("我要起诉你们", "external_escalation", "起诉", id="external_sue"),
    pytest.param("再不处理我就找媒体曝光", "external_escalation", "媒体", id="external_media"),
    pytest.param("我要曝光你们", "external_escalation", "曝光", id="external_expose"),
    pytest.param("我已经请了律师", "external_escalation", "律师", id="external_lawyer"),
    # distress
    pytest.param("我真的活不下去了", "distress", "活不下去", id="distress_cannot_go_on"),
    pytest.param("我怕自己会想不开", "distress", "想不开", id="distress_xiangbukai"),
    pytest.param("逼得我想跳楼", "distress", "跳楼", id="distress_jump"),
    pytest.param("我是不是只能去死了？", "distress", "去死", id="distress_in_a_question"),
    pytest.param("难道要我去跳楼吗？", "distress", "跳楼", id="distress_rhetorical_question"),
    pytest.param("我会不会被逼得想不开", "distress", "想不开", id="distress_huibuhui"),
    # collection_misconduct
    pytest.param("催收说要爆通讯录", "collection_misconduct", "爆通讯录", id="collection_contacts"),
    pytest.param("催收天天骚扰我家人", "collection_misconduct", "骚扰我家人", id="collection_family"),
    pytest.param("催收打电话给我同事", "collection_misconduct", "打电话给我同事", id="collection_colleagues"),
    pytest.param("催收员威胁我", "collection_misconduct", "威胁", id="collection_threat"),
    pytest.param("电话里辱骂我", "collection_misconduct", "辱骂", id="collection_abuse"),
    pytest.param("说明天要上门", "collection_misconduct", "上门", id="collection_visit"),
    # many_affected
    pytest.param("很多人都被扣了这笔钱", "many_affected", "很多人", id="many_henduoren"),
    pytest.param("系统大面积瘫痪", "many_affected", "大面积", id="many_large_scale"),
    pytest.param("我们小区的人都遇到了", "many_affected", "都遇到", id="many_all_met"),
    pytest.param("不止我一个人这样", "many_affected", "不止我一个", id="many_not_only_me"),
]


@pytest.mark.parametrize(("text", "kind", "evidence"), FIRES)
def test_signal_fires_with_its_evidence(text, kind, evidence):
    assert evidence in evidence_of(text, kind), read_signals(text)
    assert_spans(text)


# --- negated and question clauses do not fire ------------------------------------------------------------

DISMISSED = [
    pytest.param("我的卡没有被盗", "fund_loss", id="negated_not_stolen"),
    pytest.param("卡片并未被盗刷", "fund_loss", id="negated_bingwei"),
    pytest.param("我没被骗，只是想问问手续费", "fund_loss", id="negated_mei"),
    pytest.param("这不是诈骗，是我自己操作失误", "fund_loss", id="negated_bushi"),
    pytest.param("我的卡会不会被盗刷？", "fund_loss", id="question_huibuhui"),
    pytest.param("我的卡是不是被盗了吗", "fund_loss", id="question_shibushi_ma"),
    pytest.param("钱是否被转走了", "fund_loss", id="question_shifou"),
    pytest.param("个人信息没有泄露", "data_leak", id="negated_leak"),
    pytest.param("我的信息并未外泄", "data_leak", id="negated_leak_bingwei"),
    pytest.param("我的信息会不会泄露？", "data_leak", id="question_leak"),
    pytest.param("会不会泄露我的身份证信息", "data_leak", id="question_leak_no_mark"),
    pytest.param("我不会报警的", "external_escalation", id="negated_police"),
    pytest.param("我没有起诉的打算", "external_escalation", id="negated_sue"),
    pytest.param("能不能别让我去找律师？", "external_escalation", id="question_lawyer"),
    pytest.param("催收员没有威胁我", "collection_misconduct", id="negated_threat"),
    pytest.param("他们会不会上门？", "collection_misconduct", id="question_visit"),
    pytest.param("是不是很多人都遇到了？", "many_affected", id="question_many"),
    pytest.param("我没有想不开", "distress", id="negated_distress"),
]


@pytest.mark.parametrize(("text", "kind"), DISMISSED)
def test_negated_or_questioned_signal_does_not_fire(text, kind):
    assert kind not in kinds(text), read_signals(text)


def test_negation_is_clause_local():
    text = "我没有乱花钱，卡却被盗刷了"
    assert evidence_of(text, "fund_loss") == ["被盗刷"]
    assert_spans(text)


@pytest.mark.parametrize("text", ["我的卡被盗刷了5万元。你们会不会管？", "卡里的钱被转走了，怎么办？"],
                         ids=["next_sentence", "next_clause"])
def test_question_is_clause_local(text):
    assert "fund_loss" in kinds(text)
    assert_spans(text)


def test_negation_only_reaches_a_few_characters_back():
    text = "没有任何通知的情况下卡被盗刷了"
    assert "fund_loss" in kinds(text)


def test_several_signals_in_one_complaint_in_order():
    text = "催收员威胁我，说要爆通讯录，我真的活不下去了，我要向银保监会投诉，他们说我欠了3万元"
    signals = read_signals(text)
    assert [s.start for s in signals] == sorted(s.start for s in signals)
    assert {"collection_misconduct", "distress", "external_escalation", "amount"} <= {s.kind for s in signals}
    assert largest_amount(signals) == 30_000
    assert_spans(text)


def test_no_signals_in_a_plain_question():
    assert read_signals("想咨询一下信用卡年费怎么收") == []


@pytest.mark.parametrize("text", [case.values[0] for case in AMOUNTS + FIRES + DISMISSED + NOT_AMOUNTS])
def test_every_signal_carries_its_span(text):
    assert_spans(text)


# --- regressions: defects found and fixed ----------------------------------------------------------------


def test_amount_span_does_not_include_trailing_space():
    text = "被骗了5万 后来才发现"  # the normaliser keeps spaces (and turns newlines into spaces)
    assert_spans(text)


@pytest.mark.parametrize("text", ["支行的人说这是她个人行为，跟银行没关系", "网点门口的人行道都过不去了",
                                  "老人行动不便，来回跑了两趟"], ids=["geren_xingwei", "renxingdao", "laoren"])
def test_renhang_inside_other_words_is_not_the_central_bank(text):
    assert "external_escalation" not in kinds(text)


def test_mixed_digit_and_chinese_amount():
    assert largest_amount(read_signals("被骗了1万2千元")) == 12_000


@pytest.mark.parametrize("text", ["已经有2万人遇到同样的问题", "网上有三千多人在维权群里", "对方报价一万条"],
                         ids=["2wan_ren", "sanqian_ren", "yiwan_tiao"])
def test_counts_are_not_amounts(text):
    assert find_amounts(text) == []


@pytest.mark.parametrize("text", ["我的卡被盗刷了怎么办", "为什么我的卡被盗刷了？"], ids=["zenmeban", "weishenme"])
def test_help_request_does_not_dismiss_a_theft(text):
    assert "fund_loss" in kinds(text)


@pytest.mark.parametrize(("text", "kind"), [
    ("没想到我被骗了", "fund_loss"),
    ("卡里的钱无故被转走", "fund_loss"),
    ("请你们通知催收别再联系我同事了", "collection_misconduct"),
    ("别逼我去报警", "external_escalation"),
], ids=["meixiangdao", "wugu", "bie_zai", "bie_bi_wo"])
def test_words_that_merely_contain_a_negation(text, kind):
    assert kind in kinds(text)


@pytest.mark.parametrize("text", ["信用卡出现一笔不明扣款", "账户里有两笔不明交易"], ids=["kou_kuan", "jiao_yi"])
def test_unexplained_debit(text):
    assert "fund_loss" in kinds(text)
