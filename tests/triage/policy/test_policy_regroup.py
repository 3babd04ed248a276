"""A group alert on complaints decided before it (`PolicyEngine.regroup`, `TriageService.escalate_group` and
`withdraw_group`): the decision an earlier member gets is the one a complaint arriving with the alert gets —
the group rules' tier floor and reasons, task force and spokesperson, head office at 20 customers, clocks of
the new tier — and a dismissal takes back exactly what the alert added. Hand-built predictions, no model."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from triage.policy import PolicyEngine, load_policy
from triage.schemas import ComplaintIn, Decision, GroupAlertRaised, GroupInfo, LabelProbability, Prediction
from triage.schemas import SimilarityFlags as Flags
from triage.service import TriageService

POLICY = load_policy()
ENGINE = PolicyEngine(POLICY)
RECEIVED = datetime(2025, 9, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # an ordinary Tuesday
TEXT = "伊景园滨河苑的车位被捆绑销售，开发商不给办理贷款"
ESCALATION = POLICY.escalation


def prediction(text: str = TEXT, category: str = "营销宣传", tier: str = "green") -> Prediction:
    return Prediction(category=category, confidence=0.9,
                      top_categories=[LabelProbability(label=category, probability=0.9)],
                      tier=tier, tier_confidence=0.9, tier_probabilities={"red": 0.05, "yellow": 0.05, tier: 0.9},
                      needs_review=False, review_reasons=[], language="zh", truncated=False, masked_text=text,
                      model_version="test-0")


def decide(complaint_id: str, flags: Flags | None = None, group: GroupInfo | None = None, **fields) -> Decision:
    decision = ENGINE.decide(ComplaintIn(text=TEXT, complaint_id=complaint_id, received_at=RECEIVED),
                             prediction(**fields), flags or Flags())
    return decision.model_copy(update={"group": group}) if group else decision


def targets(decision: Decision) -> list[str]:
    return [e.target for e in decision.escalations]


def alert(level: str = "emerging", customers: int = 5, members: tuple[str, ...] = ("A", "B")) -> GroupAlertRaised:
    return GroupAlertRaised(cluster_id="G000007", level=level, previous_level=None, distinct_customers=customers,
                            members=list(members), trigger=members[-1], raised_at=RECEIVED)


def group(alert_level: str | None, customers: int = 5) -> GroupInfo:
    return GroupInfo(cluster_id="G000007", cluster_size=2, distinct_customers=customers, alert=alert_level)


def test_an_earlier_member_gets_what_a_member_arriving_with_the_alert_gets():
    before = decide("A", group=group(None, 3))
    assert before.tier.label == "green" and not any("专项工作组" in t for t in targets(before))
    after = ENGINE.regroup(before, group("emerging", 5))
    arriving = decide("A", Flags(group_alert="emerging", group_customers=5), group=group("emerging", 5))
    assert after.tier.label == arriving.tier.label == "red"
    assert [r.rule for r in after.tier.reasons] == [r.rule for r in arriving.tier.reasons]
    assert "R-GROUP" in [r.rule for r in after.tier.reasons]
    assert targets(after) == targets(arriving)
    assert {f"专项工作组：{m}" for m in ESCALATION.group_task_force} | {ESCALATION.group_spokesperson} \
        <= set(targets(after))
    assert ESCALATION.major_group_target not in targets(after)  # 5 customers: not a major complaint
    assert after.clocks == arriving.clocks and after.clocks.respond_by < before.clocks.respond_by  # red: today
    assert after.group.alert == "emerging" and after.category == before.category
    assert after.department == before.department and after.masked_text == before.masked_text


def test_a_major_alert_adds_head_office_consumer_protection():
    emerging = ENGINE.regroup(decide("A"), group("emerging", 6))
    major = ENGINE.regroup(emerging, group("major", 20))
    assert ESCALATION.major_group_target in targets(major)
    assert ESCALATION.major_group_target not in targets(emerging)


def test_an_alert_never_lowers_a_tier():
    red = decide("A", tier="red")
    assert ENGINE.regroup(red, group("emerging")).tier.label == "red"


def test_a_dismissal_takes_back_what_the_alert_added_and_nothing_else():
    before = decide("A", tier="yellow")
    escalated = ENGINE.regroup(before, group("emerging"))
    withdrawn = ENGINE.regroup(escalated, group(None))
    assert withdrawn.tier.label == "yellow"
    assert [r.rule for r in withdrawn.tier.reasons] == [r.rule for r in before.tier.reasons]
    assert targets(withdrawn) == targets(before)
    assert withdrawn.clocks == before.clocks
    assert withdrawn.group.alert is None


def test_the_service_escalates_the_members_that_do_not_carry_the_alert_yet():
    service = TriageService(None, POLICY)  # type: ignore[arg-type]  # regrouping reads no model
    earlier = decide("A", group=group(None, 3))
    joined_after = decide("B", Flags(group_alert="emerging", group_customers=6), group=group("emerging", 6))
    changes = service.escalate_group(alert(members=("A", "B", "GONE")), {"A": earlier, "B": joined_after})
    assert [(c.complaint_id, c.reason) for c in changes] == [("A", "group alert G000007")]
    assert changes[0].decision.tier.label == "red"
    major = service.escalate_group(alert("major", 20), {"A": changes[0].decision, "B": joined_after})
    assert [c.complaint_id for c in major] == ["A", "B"]
    assert all(ESCALATION.major_group_target in targets(c.decision) for c in major)
    assert major[0].reason == "group alert G000007 (major)"

    withdrawn = service.withdraw_group("G000007", {"A": major[0].decision, "B": major[1].decision})
    assert [(c.complaint_id, c.reason) for c in withdrawn] == [("A", "group alert G000007 dismissed"),
                                                              ("B", "group alert G000007 dismissed")]
    assert all(c.decision.tier.label == "green" and c.decision.group.alert is None for c in withdrawn)
    assert not any(ESCALATION.group_spokesperson in targets(c.decision) for c in withdrawn)
