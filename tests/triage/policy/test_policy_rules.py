"""The default policy applied to hand-built model predictions: every tier rule fires on its case and stays
quiet on its near miss; rules only raise; routing, escalations, approval levels, JR/T 0169 codes and the
review flags follow the policy file. No model is involved: the `Prediction` is written by hand.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from triage.policy import PolicyEngine, load_policy
from triage.policy.schema import TIER_ORDER
from triage.schemas import ComplaintIn, Decision, LabelProbability, Prediction, SimilarityFlags

POLICY = load_policy()
ENGINE = PolicyEngine(POLICY)
RECEIVED = datetime(2025, 9, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # an ordinary Tuesday
NEUTRAL = "想咨询一下这个业务的办理流程"


def prediction(text: str = NEUTRAL, category: str = "客户服务", tier: str | None = "green",
               tier_confidence: float | None = 0.9, confidence: float = 0.9, language: str = "zh",
               review_reasons: list[str] | None = None) -> Prediction:
    reasons = list(review_reasons or [])
    probabilities = None
    if tier is not None:
        rest = (1 - (tier_confidence or 0)) / 2
        probabilities = {t: (tier_confidence if t == tier else rest) for t in TIER_ORDER}
    return Prediction(
        category=category,
        confidence=confidence,
        top_categories=[LabelProbability(label=category, probability=confidence),
                        LabelProbability(label="其他", probability=1 - confidence)],
        tier=tier,
        tier_confidence=tier_confidence if tier is not None else None,
        tier_probabilities=probabilities,
        needs_review=bool(reasons),
        review_reasons=reasons,
        language=language,
        truncated=False,
        masked_text=text,
        model_version="test-0",
    )


def decide(text: str = NEUTRAL, category: str = "客户服务", tier: str | None = "green",
           tier_confidence: float | None = 0.9, flags: SimilarityFlags | None = None, **complaint) -> Decision:
    complaint.setdefault("received_at", RECEIVED)
    return ENGINE.decide(ComplaintIn(text=text, **complaint),
                         prediction(text, category, tier, tier_confidence), flags or SimilarityFlags())


def rule_ids(decision: Decision) -> list[str]:
    return [r.rule for r in decision.tier.reasons]


def reason(decision: Decision, rule: str):
    return next(r for r in decision.tier.reasons if r.rule == rule)


def targets(decision: Decision) -> list[str]:
    return [e.target for e in decision.escalations]


# --- every rule: fires, and its near miss does not ------------------------------------------------------

# (rule, text, category, flags, complaint amount, evidence the reason must carry)
FIRING = [
    pytest.param("R-DISTRESS", "催收天天打电话骂我，我真的活不下去了", "催收行为", None, None, ["活不下去"],
                 id="R-DISTRESS"),
    pytest.param("R-DISTRESS", "我是不是只能去死了？", "其他", None, None, ["去死"], id="R-DISTRESS-question"),
    pytest.param("R-FUND-LOSS-LARGE", "我的信用卡昨晚在境外被盗刷了5万元", "资金安全", None, None,
                 ["被盗刷", "金额 50,000 元"], id="R-FUND-LOSS-LARGE"),
    pytest.param("R-FUND-LOSS-LARGE", "我被骗了一万", "资金安全", None, None, ["被骗", "金额 10,000 元"],
                 id="R-FUND-LOSS-LARGE-at-threshold"),
    pytest.param("R-FUND-LOSS", "接到假客服电话被骗了3000元", "资金安全", None, None,
                 ["被骗", "金额 3,000 元"], id="R-FUND-LOSS"),
    pytest.param("R-FUND-LOSS", "卡里的钱莫名其妙被扣了一千元", "资金安全", None, None,
                 ["莫名其妙被扣", "金额 1,000 元"], id="R-FUND-LOSS-at-threshold"),
    pytest.param("R-LEAK-WIDE", "我的个人信息泄露了，身边很多人都接到了推销电话", "信息安全", None, None,
                 ["泄露", "很多人"], id="R-LEAK-WIDE"),
    pytest.param("R-LEAK", "我的个人信息泄露了，天天接到推销电话", "信息安全", None, None, ["泄露"],
                 id="R-LEAK"),
    pytest.param("R-GROUP", NEUTRAL, "客户服务", SimilarityFlags(group_alert="emerging", group_customers=8),
                 None, ["群体预警 emerging（8 位客户）"], id="R-GROUP"),
    pytest.param("R-REPEAT", NEUTRAL, "客户服务", SimilarityFlags(repeat_count=3), None, ["第 3 次投诉"],
                 id="R-REPEAT"),
    pytest.param("R-REPEAT", NEUTRAL, "客户服务", SimilarityFlags(repeat_count=7), None, ["第 7 次投诉"],
                 id="R-REPEAT-seventh"),
    pytest.param("R-COLLECTION", "催收员天天打电话给我同事", "催收行为", None, None, ["打电话给我同事"],
                 id="R-COLLECTION"),
    pytest.param("R-EXTERNAL", "再不处理我就向金融监管总局投诉", "客户服务", None, None, ["金融监管总局"],
                 id="R-EXTERNAL"),
    pytest.param("R-MANY-AFFECTED", "我身边很多人都被多收了这笔年费", "定价收费", None, None, ["很多人"],
                 id="R-MANY-AFFECTED"),
    pytest.param("R-LARGE-AMOUNT", "理财产品到期少给了我2万元收益", "营销宣传", None, None, ["金额 20,000 元"],
                 id="R-LARGE-AMOUNT"),
    pytest.param("R-LARGE-AMOUNT", NEUTRAL, "合同条款", None, 10_000, ["金额 10,000 元"],
                 id="R-LARGE-AMOUNT-from-complaint"),
    # What real customers write (issue 13): self-harm at face value, violence, essential money, unknown loans.
    pytest.param("R-DISTRESS", "天天打电话给我家人，搞得我都想死了", "催收行为", None, None, ["想死"],
                 id="R-DISTRESS-xiangsi"),
    pytest.param("R-DISTRESS", "再这样催下去真的要出人命了", "催收行为", None, None, ["出人命"],
                 id="R-DISTRESS-life"),
    pytest.param("R-DISTRESS", "我现在对生活已经感到绝望", "催收行为", None, None, ["对生活已经感到绝望"],
                 id="R-DISTRESS-despair"),
    pytest.param("R-VIOLENCE", "催收员在电话里说要干死我", "催收行为", None, None, ["干死我"], id="R-VIOLENCE"),
    pytest.param("R-VIOLENCE", "他们说我妈妈要是不还钱就对她不客气", "催收行为", None, None,
                 ["妈妈要是不还钱就对她不客气"], id="R-VIOLENCE-family"),
    pytest.param("R-VIOLENCE", "第三方上门踢门辱骂，我们报了警", "催收行为", None, None, ["踢门"],
                 id="R-VIOLENCE-door"),
    pytest.param("R-ESSENTIAL-FUNDS", "妈妈做手术的医药费3万5，卡被冻结了", "资金安全", None, None,
                 ["医药费3万5，卡被冻结"], id="R-ESSENTIAL-FUNDS-frozen"),
    pytest.param("R-ESSENTIAL-FUNDS", "一个月的生活费一晚上被扣光了", "资金安全", None, None,
                 ["生活费一晚上被扣光"], id="R-ESSENTIAL-FUNDS-living"),
    pytest.param("R-ESSENTIAL-FUNDS", "孩子的学费被骗走了", "资金安全", None, None, ["学费被骗走"],
                 id="R-ESSENTIAL-FUNDS-school"),
    pytest.param("R-FUND-LOSS-LARGE", "说卡号错误，要我交2万元解冻金才能放款", "资金安全", None, None,
                 ["交2万元解冻", "金额 20,000 元"], id="R-FUND-LOSS-LARGE-advance-fee"),
    pytest.param("R-FUND-LOSS-LARGE", "卡在本人身上，2分钟分19笔划扣29900元", "资金安全", None, None,
                 ["19笔划扣", "金额 29,900 元"], id="R-FUND-LOSS-LARGE-rapid-transactions"),
    pytest.param("R-FUND-LOSS-LARGE", "又以卡号错误说资金冻结了，要交12000保证金", "资金安全", None, None,
                 ["交12000保证金", "金额 12,000 元"], id="R-FUND-LOSS-LARGE-deposit-without-yuan"),
    pytest.param("R-FUND-LOSS-LARGE", "骗贷¥20,000，说被冻结需要¥5000解冻", "资金安全", None, None,
                 ["骗贷", "金额 20,000 元"], id="R-FUND-LOSS-LARGE-currency-sign"),
    pytest.param("R-FUND-LOSS-LARGE", "个人没有操作，银行卡被刷6200元，卡一直在我身上", "资金安全", None, None,
                 ["被刷", "金额 6,200 元"], id="R-FUND-LOSS-LARGE-about-ten-thousand"),
    pytest.param("R-ADVANCE-FEE-SCAM", ("申请了3万的贷款，先交了10%的服务费，又说银行卡被冻结要再打8000，"
                  "交完解冻费还是不能提现"), "资金安全", None, None, ["金额 30,000 元"], id="R-ADVANCE-FEE-SCAM"),
    pytest.param("R-ADVANCE-FEE-SCAM", "客服说要返还4700给他们过账才能放第二笔款，前后转了15600",
                 "资金安全", None, None, ["返还4700给他们过账才能放第二笔款", "金额 15,600 元"],
                 id="R-ADVANCE-FEE-SCAM-pass-through"),
    pytest.param("R-DISTRESS", "天天打我爸妈电话，我现在精神太紧张了，活着没啥意义了", "催收行为", None, None,
                 ["活着没啥意义"], id="R-DISTRESS-without-the-word-death"),
    pytest.param("R-DISTRESS", "邻居都知道了，我要是受不了压力出了什么事谁负责", "催收行为", None, None,
                 ["出了什么事谁负责"], id="R-DISTRESS-who-answers"),
    pytest.param("R-UNKNOWN-CREDIT-LARGE", "店员用我的身份证贷了2万多块钱，钱我根本没见到", "资金安全", None, None,
                 ["用我的身份证贷", "金额 20,000 元"], id="R-UNKNOWN-CREDIT-LARGE-identity-used"),
    pytest.param("R-UNKNOWN-CREDIT-LARGE", "本人从未在该平台贷过款，征信却显示一笔30180元的贷款", "信息安全",
                 None, None, ["从未在该平台贷过", "金额 30,180 元"], id="R-UNKNOWN-CREDIT-LARGE"),
    pytest.param("R-UNKNOWN-CREDIT", "我从来没有借过这个平台的钱，为什么征信上有记录", "信息安全", None, None,
                 ["从来没有借过"], id="R-UNKNOWN-CREDIT"),
    pytest.param("R-UNKNOWN-CREDIT", "有人冒用我的身份办了一笔贷款", "信息安全", None, None, ["冒用我的身份"],
                 id="R-UNKNOWN-CREDIT-identity"),
]

FLOORS = {rule.id: rule.floor for rule in POLICY.rules}


def test_every_rule_of_the_default_policy_has_a_firing_case_and_a_near_miss():
    fired = {case.values[0] for case in FIRING}
    missed = {case.values[0] for case in NEAR_MISSES}
    assert fired == set(FLOORS), set(FLOORS) ^ fired
    assert missed == set(FLOORS), set(FLOORS) ^ missed


@pytest.mark.parametrize(("rule", "text", "category", "flags", "amount", "evidence"), FIRING)
def test_rule_fires_with_its_evidence(rule, text, category, flags, amount, evidence):
    decision = decide(text, category, "green", 0.9, flags, amount=amount)
    assert rule in rule_ids(decision), decision.tier.reasons
    got = reason(decision, rule)
    assert got.description == next(r.description for r in POLICY.rules if r.id == rule)
    for item in evidence:
        assert item in got.evidence, (item, got.evidence)
    assert TIER_ORDER[decision.tier.label] >= TIER_ORDER[FLOORS[rule]]
    assert decision.tier.name == POLICY.tiers[decision.tier.label].name
    assert decision.tier.model_label == "green"
    assert rule_ids(decision)[0] == "MODEL"


# (rule that must not fire, text, category, flags, complaint amount)
NEAR_MISSES = [
    pytest.param("R-DISTRESS", "我没有想不开，只是想要个说法", "客户服务", None, None, id="R-DISTRESS-negated"),
    pytest.param("R-FUND-LOSS-LARGE", "我的信用卡被盗刷了4999元", "资金安全", None, None,
                 id="R-FUND-LOSS-LARGE-under-threshold"),
    pytest.param("R-FUND-LOSS-LARGE", "我的信用卡会不会被盗刷？里面有5万元", "资金安全", None, None,
                 id="R-FUND-LOSS-LARGE-question"),
    pytest.param("R-FUND-LOSS", "被骗了999元", "资金安全", None, None, id="R-FUND-LOSS-under-threshold"),
    pytest.param("R-FUND-LOSS", "我的卡没有被盗，只是3000元的还款没到账", "系统故障", None, None,
                 id="R-FUND-LOSS-negated"),
    pytest.param("R-FUND-LOSS", "卡片并未被盗刷，3000元是我自己消费的", "定价收费", None, None,
                 id="R-FUND-LOSS-bingwei"),
    pytest.param("R-LEAK-WIDE", "我的个人信息泄露了，天天接到推销电话", "信息安全", None, None,
                 id="R-LEAK-WIDE-only-me"),
    pytest.param("R-LEAK-WIDE", "很多人担心，我们的信息会不会泄露？", "信息安全", None, None,
                 id="R-LEAK-WIDE-question"),
    pytest.param("R-LEAK", "我的信息会不会泄露？", "信息安全", None, None, id="R-LEAK-question"),
    pytest.param("R-LEAK", "个人信息没有泄露，但推销电话太多", "营销宣传", None, None, id="R-LEAK-negated"),
    pytest.param("R-GROUP", NEUTRAL, "客户服务", SimilarityFlags(group_customers=30), None,
                 id="R-GROUP-no-alert"),
    pytest.param("R-REPEAT", NEUTRAL, "客户服务", SimilarityFlags(repeat_count=2), None, id="R-REPEAT-second"),
    pytest.param("R-COLLECTION", "催收员没有威胁我，态度还可以", "催收行为", None, None,
                 id="R-COLLECTION-negated"),
    pytest.param("R-COLLECTION", "他们会不会上门？", "催收行为", None, None, id="R-COLLECTION-question"),
    pytest.param("R-EXTERNAL", "我不会报警的，只想尽快解决", "客户服务", None, None, id="R-EXTERNAL-negated"),
    pytest.param("R-EXTERNAL", "需不需要找律师？能不能先协商", "客户服务", None, None, id="R-EXTERNAL-question"),
    pytest.param("R-MANY-AFFECTED", "是不是很多人都遇到了？", "系统故障", None, None,
                 id="R-MANY-AFFECTED-question"),
    pytest.param("R-LARGE-AMOUNT", "年费被多收了9999元", "定价收费", None, None, id="R-LARGE-AMOUNT-under"),
    pytest.param("R-LARGE-AMOUNT", "2025年10月30日扣了年费", "定价收费", None, None, id="R-LARGE-AMOUNT-date"),
    pytest.param("R-LARGE-AMOUNT", "理财亏了5万元", "营销宣传", None, 9_999, id="R-LARGE-AMOUNT-complaint-wins"),
    pytest.param("R-DISTRESS", "利息这么高，这是要逼死人吗", "定价收费", None, None, id="R-DISTRESS-rhetorical"),
    pytest.param("R-FUND-LOSS", "材料我交了3次，被骗了一样，还是不放款", "客户服务", None, None,
                 id="R-FUND-LOSS-a-count-is-not-money"),
    pytest.param("R-VIOLENCE", "催收员态度很差，天天打电话", "催收行为", None, None, id="R-VIOLENCE-rude-only"),
    pytest.param("R-VIOLENCE", "拨打人工客服一直没人接", "客户服务", None, None, id="R-VIOLENCE-dial-a-person"),
    pytest.param("R-VIOLENCE", "还款后催收又打了我三个电话，要我下午前再还2100", "催收行为", None, None,
                 id="R-VIOLENCE-calls-are-not-blows"),
    pytest.param("R-ADVANCE-FEE-SCAM", "放款前要交2000保证金，我没交，贷款也没下来", "合同条款", None, None,
                 id="R-ADVANCE-FEE-SCAM-small"),
    pytest.param("R-DISTRESS", "为了这点事我心态都崩了，客服还不理人", "客户服务", None, None,
                 id="R-DISTRESS-upset-is-not-danger"),
    pytest.param("R-ESSENTIAL-FUNDS", "疫情没收入，房租都成了问题，希望延期还款", "合同条款", None, None,
                 id="R-ESSENTIAL-FUNDS-hardship-only"),
    pytest.param("R-ESSENTIAL-FUNDS", "宠物做了手术，保险拒赔医药费", "合同条款", None, None,
                 id="R-ESSENTIAL-FUNDS-claim-refused"),
    pytest.param("R-FUND-LOSS-LARGE", ("去年被骗过一次，后来生意失败又遇上疫情失业，"
                  "现在借的5万元贷款还不上了，想协商"), "合同条款", None, None,
                 id="R-FUND-LOSS-LARGE-amount-elsewhere"),
    pytest.param("R-UNKNOWN-CREDIT-LARGE", "我从来没有借过这个平台的钱", "信息安全", None, None,
                 id="R-UNKNOWN-CREDIT-LARGE-no-amount"),
    pytest.param("R-UNKNOWN-CREDIT", "我没有逾期过，也办理过分期，为什么降额", "合同条款", None, None,
                 id="R-UNKNOWN-CREDIT-not-a-denial"),
    pytest.param("R-UNKNOWN-CREDIT", "是不是有人冒用我的身份？", "信息安全", None, None,
                 id="R-UNKNOWN-CREDIT-question"),
]


@pytest.mark.parametrize(("rule", "text", "category", "flags", "amount"), NEAR_MISSES)
def test_near_miss_does_not_fire(rule, text, category, flags, amount):
    decision = decide(text, category, "green", 0.9, flags, amount=amount)
    assert rule not in rule_ids(decision), decision.tier.reasons


@pytest.mark.parametrize("rule", ["R-FUND-LOSS", "R-LEAK", "R-EXTERNAL", "R-MANY-AFFECTED", "R-LARGE-AMOUNT"])
def test_yellow_floor_lifts_green_to_yellow_exactly(rule):
    case = next(c for c in FIRING if c.values[0] == rule)
    _, text, category, flags, amount, _ = case.values
    decision = decide(text, category, "green", 0.9, flags, amount=amount)
    assert decision.tier.label == "yellow", decision.tier.reasons


def test_no_rule_leaves_the_model_tier():
    decision = decide(NEUTRAL, "客户服务", "yellow", 0.8)
    assert decision.tier.label == "yellow"
    assert rule_ids(decision) == ["MODEL"]
    assert decision.tier.reasons[0].evidence == ["p=0.80"]
    assert not decision.needs_review


# --- rules only raise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [NEUTRAL, "年费被多收了2万元", "我身边很多人都被多收了这笔年费"],
                         ids=["no_rule", "yellow_rule_large_amount", "yellow_rule_many"])
def test_rules_never_lower_a_red_model_tier(text):
    decision = decide(text, "定价收费", "red", 0.9)
    assert decision.tier.label == "red"
    assert decision.tier.model_label == "red"
    assert "应急处置小组" in targets(decision)


def test_yellow_model_with_a_yellow_rule_stays_yellow():
    decision = decide("年费被多收了2万元", "定价收费", "yellow", 0.9)
    assert decision.tier.label == "yellow"
    assert "R-LARGE-AMOUNT" in rule_ids(decision)


def test_without_a_tier_model_rules_start_from_green():
    plain = decide(NEUTRAL, "客户服务", None, None)
    assert plain.tier.label == "green"
    assert rule_ids(plain) == ["NO-TIER-MODEL"]
    assert plain.tier.model_label is None and plain.tier.model_confidence is None
    raised = decide("我的信用卡昨晚在境外被盗刷了5万元", "资金安全", None, None)
    assert raised.tier.label == "red"
    assert "R-FUND-LOSS-LARGE" in rule_ids(raised)


# --- review --------------------------------------------------------------------------------------------


def test_distress_is_red_and_reviewed_even_against_a_confident_green_model():
    decision = decide("催收天天打电话骂我，我真的活不下去了", "催收行为", "green", 0.99)
    assert decision.tier.label == "red"
    assert decision.tier.model_label == "green"
    assert decision.needs_review
    assert any("R-DISTRESS" in r for r in decision.review_reasons)
    assert "应急处置小组" in targets(decision)


def test_red_from_a_weak_model_score_is_reviewed():
    decision = decide(NEUTRAL, "客户服务", "red", 0.3)
    assert decision.tier.label == "red"
    assert decision.needs_review
    tier_reasons = [r for r in decision.review_reasons if r.startswith("tier")]
    assert tier_reasons and "0.30" in tier_reasons[0]


def test_red_from_a_strong_model_score_is_not_reviewed():
    assert not decide(NEUTRAL, "客户服务", "red", 0.5).needs_review


def test_red_from_a_rule_needs_no_tier_review():
    decision = decide("我的信用卡昨晚在境外被盗刷了5万元", "资金安全", "red", 0.3)
    assert decision.tier.label == "red"
    assert not any(r.startswith("tier") for r in decision.review_reasons)
    assert not decision.needs_review


def test_yellow_from_a_weak_score_is_not_a_tier_review():
    assert not decide(NEUTRAL, "客户服务", "yellow", 0.3).needs_review


@pytest.mark.parametrize(("text", "category", "signal"), [
    ("我的信用卡被盗刷了", "客户服务", "fund_loss"),
    ("我的个人信息泄露了", "系统故障", "data_leak"),
    ("催收员辱骂我", "定价收费", "collection_misconduct"),
], ids=["fund_loss_as_service", "data_leak_as_outage", "collection_as_pricing"])
def test_signal_contradicting_the_category_is_reviewed(text, category, signal):
    decision = decide(text, category)
    assert decision.needs_review
    assert any(r.startswith(f"signal: {signal}") and category in r for r in decision.review_reasons), \
        decision.review_reasons


@pytest.mark.parametrize(("text", "category"), [
    ("我的信用卡被盗刷了", "资金安全"),
    ("我的个人信息泄露了", "信息安全"),
    ("催收员辱骂我", "催收行为"),
], ids=["fund_loss", "data_leak", "collection"])
def test_signal_fitting_the_category_is_not_reviewed(text, category):
    assert not decide(text, category).needs_review


def test_non_chinese_prediction_stays_in_review():
    reason_text = "language: text is not mainly Chinese; the models were trained on Chinese"
    text = "my credit card was charged twice"
    decision = ENGINE.decide(ComplaintIn(text=text, received_at=RECEIVED),
                             prediction(text, "定价收费", "green", 0.9, language="other",
                                        review_reasons=[reason_text]))
    assert decision.needs_review
    assert reason_text in decision.review_reasons
    assert decision.language == "other"


def test_model_review_reasons_are_kept_alongside_policy_reasons():
    model_reason = "low_confidence: 0.40 < threshold 0.70 for 客户服务"
    decision = ENGINE.decide(ComplaintIn(text="x", received_at=RECEIVED),
                             prediction("我真的活不下去了", "客户服务", "green", 0.9, review_reasons=[model_reason]))
    assert decision.review_reasons[0] == model_reason
    assert any("R-DISTRESS" in r for r in decision.review_reasons)


# --- routing ---------------------------------------------------------------------------------------------

ROUTES = [
    pytest.param("催收行为", "催收管理部", ["法律合规部"], id="催收行为"),
    pytest.param("定价收费", "运营管理部", [], id="定价收费"),
    pytest.param("客户服务", "客服中心", [], id="客户服务"),
    pytest.param("营销宣传", "消费者权益保护部", [], id="营销宣传"),
    pytest.param("合同条款", "法律合规部", ["业务条线"], id="合同条款"),
    pytest.param("系统故障", "信息科技部", ["运营管理部"], id="系统故障"),
    pytest.param("资金安全", "风险管理部", ["运营管理部"], id="资金安全"),
    pytest.param("信息安全", "风险管理部", ["信息科技部", "法律合规部"], id="信息安全"),
    pytest.param("其他", "客服中心", [], id="其他"),
]


def test_routes_cover_every_category_of_the_policy():
    assert {case.values[0] for case in ROUTES} == set(POLICY.categories)


@pytest.mark.parametrize(("category", "department", "co_departments"), ROUTES)
def test_category_routes_to_its_department(category, department, co_departments):
    decision = decide(NEUTRAL, category)
    assert decision.department == department == POLICY.categories[category].department
    assert decision.co_departments == co_departments
    assert decision.codes.cause.code == POLICY.categories[category].cause.code
    assert not decision.needs_review


def test_rule_co_departments_are_added_once_and_never_the_department():
    collection = decide("催收员威胁我，还要爆通讯录", "催收行为")
    assert collection.department == "催收管理部"
    assert collection.co_departments == ["法律合规部"]  # from the category and from R-COLLECTION: once
    external = decide("再不处理我就向金融监管总局投诉", "营销宣传")
    assert external.department == "消费者权益保护部"
    assert "消费者权益保护部" not in external.co_departments
    other = decide("再不处理我就向金融监管总局投诉", "系统故障")
    assert other.co_departments == ["运营管理部", "消费者权益保护部"]


def test_unknown_category_goes_to_the_fallback_department_for_review():
    decision = decide(NEUTRAL, "投诉其他")
    assert decision.department == "客服中心" == POLICY.fallback_department
    assert decision.co_departments == []
    assert decision.needs_review
    assert any("投诉其他" in r and r.startswith("category") for r in decision.review_reasons)
    assert decision.codes.cause.code == POLICY.fallback_cause.code == "C99"
    assert decision.category == "投诉其他"


def test_unknown_category_still_gets_rule_floors():
    decision = decide("我的信用卡昨晚在境外被盗刷了5万元", "银行卡盗刷")
    assert decision.tier.label == "red"
    assert decision.department == "客服中心"
    assert decision.needs_review


# --- escalations -----------------------------------------------------------------------------------------


def test_third_complaint_brings_in_a_supervisor_and_a_named_follow_up():
    decision = decide(NEUTRAL, "定价收费", flags=SimilarityFlags(repeat_count=3))
    assert targets(decision) == ["投诉处理主管", "专人跟进至办结"]
    assert all("第 3 次" in e.reason for e in decision.escalations)
    assert decision.repeat.repeat_count == 3


def test_third_contract_complaint_also_brings_in_the_legal_adviser():
    decision = decide(NEUTRAL, "合同条款", flags=SimilarityFlags(repeat_count=3))
    assert targets(decision) == ["投诉处理主管", "专人跟进至办结", "法律顾问"]


@pytest.mark.parametrize("category", [c for c in POLICY.categories if c != "合同条款"])
def test_no_legal_adviser_outside_contract_disputes(category):
    assert "法律顾问" not in targets(decide(NEUTRAL, category, flags=SimilarityFlags(repeat_count=5)))


def test_second_complaint_escalates_nothing():
    decision = decide(NEUTRAL, "合同条款", flags=SimilarityFlags(repeat_count=2))
    assert decision.escalations == []


def test_emerging_group_brings_in_the_task_force_and_spokesperson():
    decision = decide(NEUTRAL, "系统故障", flags=SimilarityFlags(group_alert="emerging", group_customers=6))
    got = targets(decision)
    for member in POLICY.escalation.group_task_force:
        assert f"专项工作组：{member}" in got
    assert "统一对外发言人" in got
    assert "总行消费者权益保护部" not in got
    assert "应急处置小组" in got  # R-GROUP made it red
    assert decision.tier.label == "red"
    assert decision.group.alert == "emerging"


@pytest.mark.parametrize("flags", [SimilarityFlags(group_alert="emerging", group_customers=20),
                                   SimilarityFlags(group_alert="major", group_customers=5)],
                         ids=["twenty_customers", "major_alert"])
def test_major_group_goes_to_head_office(flags):
    decision = decide(NEUTRAL, "系统故障", flags=flags)
    assert "总行消费者权益保护部" in targets(decision)


def test_nineteen_customers_stay_at_branch():
    flags = SimilarityFlags(group_alert="emerging", group_customers=19)
    assert "总行消费者权益保护部" not in targets(decide(NEUTRAL, "系统故障", flags=flags))


def test_red_brings_in_the_emergency_team_and_green_does_not():
    assert targets(decide(NEUTRAL, "客户服务", "red", 0.9)) == ["应急处置小组"]
    assert decide(NEUTRAL, "客户服务", "green", 0.9).escalations == []
    assert decide(NEUTRAL, "客户服务", "yellow", 0.9).escalations == []


# --- approval ----------------------------------------------------------------------------------------------

HEAD_OFFICE = "总行（风险管理部、法律合规部）及高级管理层"


@pytest.mark.parametrize(("amount", "level"), [
    pytest.param(0, "部门负责人", id="0"),
    pytest.param(999, "部门负责人", id="999"),
    pytest.param(999.99, "部门负责人", id="999.99"),
    pytest.param(1000, "分行副行长", id="1000"),
    pytest.param(10000, "分行副行长", id="10000"),
    pytest.param(10000.01, HEAD_OFFICE, id="10000.01"),
    pytest.param(10001, HEAD_OFFICE, id="10001"),
    pytest.param(5_000_000, HEAD_OFFICE, id="5000000"),
])
def test_approval_level_by_amount(amount, level):
    decision = decide(NEUTRAL, "定价收费", amount=amount)
    assert decision.amount == amount
    assert decision.approval_level == level


def test_approval_level_from_the_text_amount():
    decision = decide("年费被多收了3,000元", "定价收费")
    assert decision.amount == 3000
    assert decision.approval_level == "分行副行长"


def test_no_amount_no_approval_level():
    decision = decide(NEUTRAL, "定价收费")
    assert decision.amount is None and decision.approval_level is None


def test_complaint_amount_wins_over_the_text():
    decision = decide("我的信用卡被盗刷了5万元", "资金安全", amount=500)
    assert decision.amount == 500
    assert decision.approval_level == "部门负责人"
    assert "R-FUND-LOSS-LARGE" not in rule_ids(decision)
    assert "R-LARGE-AMOUNT" not in rule_ids(decision)
    assert decision.tier.label == "green"
    assert any(s.kind == "amount" and s.value == 50_000 for s in decision.signals)  # still shown as a signal


def test_complaint_amount_can_raise_too():
    decision = decide("我的信用卡被盗刷了", "资金安全", amount=20_000)
    assert "R-FUND-LOSS-LARGE" in rule_ids(decision)
    assert decision.tier.label == "red"
    assert decision.approval_level == HEAD_OFFICE


# --- JR/T 0169 codes ---------------------------------------------------------------------------------------

CHANNELS = [
    pytest.param("branch", "A1", id="branch"),
    pytest.param("hotline", "A302", id="hotline"),
    pytest.param("web", "A301", id="web"),
    pytest.param("app", "A303", id="app"),
    pytest.param("wechat", "A304", id="wechat"),
    pytest.param("letter", "A9", id="letter"),
    pytest.param("other", "A9", id="other_falls_back"),
    pytest.param(None, "A9", id="none_falls_back"),
]


@pytest.mark.parametrize(("channel", "code"), CHANNELS)
def test_channel_codes(channel, code):
    decision = decide(NEUTRAL, channel=channel)
    assert decision.codes.channel.code == code
    expected = POLICY.channels.get(channel or "", POLICY.fallback_channel)
    assert decision.codes.channel.name == expected.name
    assert decision.channel == channel


PRODUCTS = [
    pytest.param("储蓄", "B01", id="储蓄"),
    pytest.param("房贷", "B02", id="房贷"),
    pytest.param("车贷", "B02", id="车贷"),
    pytest.param("消费贷", "B02", id="消费贷"),
    pytest.param("网贷助贷", "B02", id="网贷助贷"),
    pytest.param("催收", "B02", id="催收"),
    pytest.param("信用卡", "B03", id="信用卡"),
    pytest.param("理财", "B99", id="理财"),
    pytest.param("其他", "B99", id="其他"),
    pytest.param("基金", "B99", id="unknown_falls_back"),
    pytest.param(None, "B99", id="none_falls_back"),
]


def test_product_table_covers_the_policy():
    assert {c.values[0] for c in PRODUCTS} >= set(POLICY.products)


@pytest.mark.parametrize(("product", "code"), PRODUCTS)
def test_product_codes(product, code):
    decision = decide(NEUTRAL, product=product)
    assert decision.codes.business.code == code
    expected = POLICY.products.get(product or "", POLICY.fallback_product)
    assert decision.codes.business.name == expected.name


def test_unknown_channel_is_refused_by_the_input_schema():
    with pytest.raises(ValueError):
        ComplaintIn(text=NEUTRAL, channel="email")


# --- the decision as a whole ----------------------------------------------------------------------------


def test_decision_records_its_versions_and_inputs():
    flags = SimilarityFlags(repeat_count=2)
    decision = ENGINE.decide(
        ComplaintIn(text="我的信用卡被盗刷了5万元", complaint_id="C1", customer_id="U1", channel="app",
                    product="信用卡", received_at=RECEIVED),
        prediction("我的信用卡被盗刷了5万元", "资金安全", "yellow", 0.7), flags)
    assert decision.policy_version == POLICY.version == "2026.11.30-default"
    assert decision.model_version == "test-0"
    assert decision.complaint_id == "C1" and decision.customer_id == "U1"
    assert decision.received_at == RECEIVED
    assert decision.category == "资金安全" and decision.category_confidence == 0.9
    assert decision.masked_text == "我的信用卡被盗刷了5万元"
    assert decision.repeat.repeat_count == 2 and decision.group.alert is None
    assert decision.warnings == []
    for signal in decision.signals:
        assert decision.masked_text[signal.start:signal.end] == signal.evidence


def test_signals_come_from_the_masked_text_not_the_raw_text():
    decision = ENGINE.decide(ComplaintIn(text="我的信用卡被盗刷了5万元", received_at=RECEIVED),
                             prediction(NEUTRAL, "资金安全"))
    assert decision.signals == []
    assert decision.amount is None


def test_policy_version_follows_the_policy(tmp_path):
    from triage.policy.schema import DEFAULT_POLICY

    path = tmp_path / "p.toml"
    path.write_text(DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        'version = "2026.11.30-default"', 'version = "2099.01-test"'), encoding="utf-8")
    other = PolicyEngine(load_policy(path))
    decision = other.decide(ComplaintIn(text=NEUTRAL, received_at=RECEIVED), prediction())
    assert decision.policy_version == "2099.01-test"


def test_deciding_twice_gives_the_same_decision():
    args = ("催收员威胁我，我真的活不下去了，欠款3万元", "催收行为", "yellow", 0.6,
            SimilarityFlags(repeat_count=3, group_alert="emerging", group_customers=25))
    assert decide(*args) == decide(*args)


# --- regressions: defects found and fixed ------------------------------------------------------------------


def test_geren_xingwei_is_not_an_external_escalation():
    decision = decide("网点员工说这是她的个人行为，跟银行没关系", "客户服务")
    assert "R-EXTERNAL" not in rule_ids(decision)


def test_mixed_numeral_amount_reaches_head_office():
    decision = decide("被骗了1万2千元", "资金安全")
    assert decision.approval_level == HEAD_OFFICE


def test_theft_with_a_plea_for_help_is_red():
    decision = decide("我的信用卡被盗刷了5万元怎么办", "资金安全")
    assert "R-FUND-LOSS-LARGE" in rule_ids(decision)
