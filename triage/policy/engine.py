"""Apply a policy to a model prediction: tier with reasons, routing, escalations, clocks, codes, review."""

from __future__ import annotations

from datetime import datetime, timedelta

from triage.policy.calendar import WorkCalendar
from triage.policy.schema import TIER_ORDER, Policy, TierRule
from triage.policy.signals import Signal, largest_amount, read_signals
from triage.schemas import (
    Clocks,
    CodeOut,
    ComplaintIn,
    Decision,
    Escalation,
    GroupInfo,
    Prediction,
    Reason,
    RegulatoryCodes,
    RepeatInfo,
    SignalOut,
    SimilarityFlags,
    SimilarityResult,
    TierDecision,
)


def _higher(a: str, b: str) -> str:
    return a if TIER_ORDER[a] >= TIER_ORDER[b] else b


class PolicyEngine:
    def __init__(self, policy: Policy):
        self.policy = policy

    def calendar(self) -> WorkCalendar:
        """A fresh working calendar of this policy (it collects fallback warnings, so one per decision)."""
        return WorkCalendar(self.policy.zone, self.policy.working_hours.start, self.policy.working_hours.end)

    # ---- clocks ----------------------------------------------------------------------------------
    def clocks(self, received_at: datetime, tier: str, category: str | None = None,
               calendar: WorkCalendar | None = None) -> Clocks:
        policy = self.policy
        calendar = calendar or self.calendar()
        received = received_at.astimezone(policy.zone)
        tier_policy = policy.tiers[tier]  # type: ignore[index]
        category_policy = policy.categories.get(category or "")
        complex_case = bool(category_policy and category_policy.complex)
        investigate = tier_policy.investigate_working_days
        return Clocks(
            register_by=calendar.add_working_hours(received, policy.clocks.register_working_hours),
            acknowledge_by=received + timedelta(hours=policy.clocks.acknowledge_hours),
            respond_by=calendar.end_of_working_days(received, tier_policy.respond_working_days),
            investigate_by=calendar.end_of_working_days(received, investigate),
            investigate_extended_by=calendar.end_of_working_days(
                received, investigate + tier_policy.investigate_extension_working_days),
            decide_by=calendar.end_of_calendar_days(
                received, policy.clocks.decide_days_complex if complex_case else policy.clocks.decide_days),
        )

    # ---- rules -------------------------------------------------------------------------------------
    @staticmethod
    def _rule_amount(rule: TierRule, signals: list[Signal], amount: float | None) -> float | None:
        """The amount a rule reads: the complaint's amount, or, with `amount_within_chars`, the largest
        amount written that close to the rule's own signal evidence."""
        reach = rule.when.amount_within_chars
        if reach is None:
            return amount
        wanted = set(rule.when.signals_any) | set(rule.when.signals_all)
        anchors = [s for s in signals if s.kind in wanted]
        near = [s.value for s in signals if s.kind == "amount" and s.value is not None
                and any(s.start - reach <= a.end and a.start <= s.end + reach for a in anchors)]
        return max(near, default=None)

    @staticmethod
    def _fires(rule: TierRule, category: str, kinds: set[str], amount: float | None,
               flags: SimilarityFlags) -> bool:
        when = rule.when
        if when.signals_any and not kinds.intersection(when.signals_any):
            return False
        if when.signals_all and not set(when.signals_all) <= kinds:
            return False
        if when.categories and category not in when.categories:
            return False
        if when.amount_at_least is not None and (amount is None or amount < when.amount_at_least):
            return False
        if when.repeat_count_at_least is not None and flags.repeat_count < when.repeat_count_at_least:
            return False
        return not (when.group_alert is not None and (flags.group_alert is not None) != when.group_alert)

    @staticmethod
    def _evidence(rule: TierRule, signals: list[Signal], amount: float | None, flags: SimilarityFlags) -> list[str]:
        wanted = set(rule.when.signals_any) | set(rule.when.signals_all)
        evidence = [s.evidence for s in signals if s.kind in wanted]
        if rule.when.amount_at_least is not None and amount is not None:
            evidence.append(f"金额 {amount:,.0f} 元")
        if rule.when.repeat_count_at_least is not None:
            evidence.append(f"第 {flags.repeat_count} 次投诉")
        if rule.when.group_alert:
            evidence.append(f"群体预警 {flags.group_alert}（{flags.group_customers} 位客户）")
        return evidence

    # ---- the decision ------------------------------------------------------------------------------
    def decide(self, complaint: ComplaintIn, prediction: Prediction, flags: SimilarityFlags | None = None,
               received_at: datetime | None = None, similarity: SimilarityResult | None = None) -> Decision:
        """`similarity` is what the similarity layer found; `flags` alone will do where only the
        policy's inputs matter (tests, `policy diff`)."""
        policy = self.policy
        if similarity is None:
            flags = flags or SimilarityFlags()
            similarity = SimilarityResult(
                repeat=RepeatInfo(is_repeat=flags.repeat_count > 1, repeat_count=flags.repeat_count),
                group=GroupInfo(distinct_customers=flags.group_customers, alert=flags.group_alert))
        flags = flags or similarity.flags()
        received = policy.localise(received_at or complaint.received_at)
        signals = read_signals(prediction.masked_text)
        kinds = {s.kind for s in signals}
        amount = complaint.amount if complaint.amount is not None else largest_amount(signals)
        category = prediction.category
        review = list(prediction.review_reasons)
        floor = policy.review.min_category_confidence
        if prediction.confidence < floor and not any(r.startswith("low_confidence") for r in review):
            review.append(f"low_confidence: {prediction.confidence:.2f} < the policy's floor {floor:.2f}")

        # Tier: the model's tier, raised (never lowered) by every rule that fires.
        model_tier = prediction.tier
        tier = model_tier if model_tier in TIER_ORDER else "green"
        reasons = []
        if model_tier in TIER_ORDER:
            reasons.append(Reason(rule="MODEL", description=f"分级模型判断为 {policy.tiers[model_tier].name}",  # type: ignore[index]
                                  evidence=[f"p={prediction.tier_confidence:.2f}"]))
        else:
            reasons.append(Reason(rule="NO-TIER-MODEL", description="模型无分级输出，从一般级起按规则判断"))
        co_departments: list[str] = []
        forced_red = False
        for rule in policy.rules:
            # An amount the intake system stated is the disputed amount: every rule reads it as given.
            rule_amount = amount if complaint.amount is not None else self._rule_amount(rule, signals, amount)
            if not self._fires(rule, category, kinds, rule_amount, flags):
                continue
            reasons.append(Reason(rule=rule.id, description=rule.description,
                                  evidence=self._evidence(rule, signals, rule_amount, flags)))
            tier = _higher(tier, rule.floor)
            forced_red |= rule.floor == "red"
            co_departments += rule.co_departments
            if rule.review:
                review.append(f"rule {rule.id}: {rule.description}")
        if (tier == "red" and not forced_red and prediction.tier_confidence is not None
                and prediction.tier_confidence < policy.review.red_min_tier_confidence):
            review.append(f"tier: red from a weak model score ({prediction.tier_confidence:.2f} < "
                          f"{policy.review.red_min_tier_confidence:.2f})")

        # Routing.
        category_policy = policy.categories.get(category)
        if category_policy is None:
            department = policy.fallback_department
            review.append(f"category: {category!r} is not in policy {policy.version}; routed to the fallback")
        else:
            department = category_policy.department
            co_departments = category_policy.co_departments + co_departments
        for kind, allowed in policy.review.signal_categories.items():
            if kind in kinds and category not in allowed:
                evidence = next(s.evidence for s in signals if s.kind == kind)
                review.append(f"signal: {kind} ('{evidence}') does not fit category {category}")

        escalations = self._escalations(tier, category, flags)
        approval = None
        if amount is not None:
            approval = next(level.level for level in policy.approval if level.covers(amount))

        calendar = self.calendar()
        clocks = self.clocks(received, tier, category, calendar)
        channel_code = policy.channels.get(complaint.channel or "", policy.fallback_channel)
        product_code = policy.products.get(complaint.product or "", policy.fallback_product)
        cause_code = category_policy.cause if category_policy else policy.fallback_cause

        return Decision(
            complaint_id=complaint.complaint_id,
            customer_id=complaint.customer_id,
            received_at=received,
            channel=complaint.channel,
            product=complaint.product,
            category=category,
            category_confidence=prediction.confidence,
            top_categories=prediction.top_categories,
            tier=TierDecision(label=tier, name=policy.tiers[tier].name, model_label=model_tier,  # type: ignore[index,arg-type]
                              model_confidence=prediction.tier_confidence, reasons=reasons),
            department=department,
            co_departments=[d for i, d in enumerate(co_departments) if d != department and d not in co_departments[:i]],
            escalations=escalations,
            amount=amount,
            approval_level=approval,
            clocks=clocks,
            codes=RegulatoryCodes(channel=CodeOut(**channel_code.model_dump()),
                                  business=CodeOut(**product_code.model_dump()),
                                  cause=CodeOut(**cause_code.model_dump())),
            signals=[SignalOut(kind=s.kind, evidence=s.evidence, start=s.start, end=s.end, value=s.value)
                     for s in signals],
            repeat=similarity.repeat,
            group=similarity.group,
            coordinated=similarity.coordinated,
            needs_review=bool(review),
            review_reasons=review,
            warnings=calendar.warnings(),
            language=prediction.language,
            truncated=prediction.truncated,
            masked_text=prediction.masked_text,
            model_version=prediction.model_version,
            policy_version=policy.version,
        )

    # ---- a decided complaint whose cluster alerts (or whose alert is dismissed) ----------------------
    def regroup(self, decision: Decision, group: GroupInfo) -> Decision:
        """The decision as it stands once its cluster's alert changed after it was made (`group`: the cluster
        as it is now). The rules that read the group alert read it again (tier floor, co-departments, review),
        the escalations follow it (task force and spokesperson; head office at `major_group_customers`), the
        clocks follow the tier. Nothing else is re-decided: the model's findings, the signals and the other
        rules' reasons stay as they were. An alert raises the tier, never lowers it; a withdrawn alert
        (dismissed) takes back what its rules added."""
        policy = self.policy
        flags = SimilarityFlags(repeat_count=decision.repeat.repeat_count, group_alert=group.alert,
                                group_customers=group.distinct_customers)
        order = {rule.id: i for i, rule in enumerate(policy.rules)}
        group_rules = [rule for rule in policy.rules if rule.when.group_alert is not None]
        group_ids = {rule.id for rule in group_rules}
        signals = read_signals(decision.masked_text)
        kinds = {s.kind for s in signals}
        fired = []
        for rule in group_rules:
            amount = self._rule_amount(rule, signals, decision.amount)
            if self._fires(rule, decision.category, kinds, amount, flags):
                fired.append(rule)
        reasons = [r for r in decision.tier.reasons if r.rule not in group_ids]
        reasons += [Reason(rule=rule.id, description=rule.description,
                           evidence=self._evidence(rule, signals, self._rule_amount(rule, signals, decision.amount),
                                                   flags)) for rule in fired]
        reasons.sort(key=lambda r: order.get(r.rule, -1 if r.rule in ("MODEL", "NO-TIER-MODEL") else len(order)))
        withdrawn = any(r.rule in group_ids for r in decision.tier.reasons) and not fired
        floors = {rule.id: rule.floor for rule in policy.rules}
        model_tier = decision.tier.model_label
        tier = model_tier if model_tier in TIER_ORDER else "green"
        for reason in reasons:
            if reason.rule in floors:
                tier = _higher(tier, floors[reason.rule])
        if not withdrawn:
            tier = _higher(tier, decision.tier.label)
        rule_co = [d for rule in policy.rules if any(r.rule == rule.id for r in reasons) for d in rule.co_departments]
        category_policy = policy.categories.get(decision.category)
        co_departments = (category_policy.co_departments if category_policy else []) + rule_co
        review = [r for r in decision.review_reasons if not any(r.startswith(f"rule {i}:") for i in group_ids)]
        review += [f"rule {rule.id}: {rule.description}" for rule in fired if rule.review]
        clocks = decision.clocks if tier == decision.tier.label else self.clocks(decision.received_at, tier,
                                                                                  decision.category)
        return decision.model_copy(update={
            "tier": decision.tier.model_copy(update={"label": tier, "name": policy.tiers[tier].name,  # type: ignore[index]
                                                     "reasons": reasons}),
            "co_departments": [d for i, d in enumerate(co_departments)
                               if d != decision.department and d not in co_departments[:i]],
            "escalations": self._escalations(tier, decision.category, flags),
            "clocks": clocks,
            "group": group,
            "needs_review": bool(review),
            "review_reasons": review,
            "policy_version": policy.version,
        })

    def _escalations(self, tier: str, category: str, flags: SimilarityFlags) -> list[Escalation]:
        rules = self.policy.escalation
        category_policy = self.policy.categories.get(category)
        out = []
        if flags.repeat_count >= rules.repeat_supervisor_at:
            why = f"同一事项第 {flags.repeat_count} 次投诉"
            out.append(Escalation(target=rules.supervisor, reason=why))
            out.append(Escalation(target=rules.named_follow_up, reason=why))
            if category_policy and category_policy.contract_dispute:
                out.append(Escalation(target=rules.legal_adviser, reason=f"{why}，涉及合同纠纷"))
        if flags.group_alert is not None:
            why = f"群体性投诉预警（{flags.group_customers} 位客户）"
            out += [Escalation(target=f"专项工作组：{member}", reason=why) for member in rules.group_task_force]
            out.append(Escalation(target=rules.group_spokesperson, reason=why))
            if flags.group_alert == "major" or flags.group_customers >= rules.major_group_customers:
                out.append(Escalation(target=rules.major_group_target,
                                      reason=f"重大消费投诉：{flags.group_customers} 位客户"))
        if tier == "red":
            out.append(Escalation(target=rules.emergency_team, reason="紧急（红色）投诉"))
        return out
