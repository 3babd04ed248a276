"""TriageService: the one object the CLI, replay and the API call to turn complaints into decisions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triage.models import TriageModel
from triage.policy import Policy, PolicyEngine, load_policy
from triage.schemas import ComplaintIn, Decision, GroupAlertRaised, GroupInfo, Prediction, SimilarityFlags
from triage.similarity.engine import SimilarityEngine
from triage.similarity.matter import DEFAULT_REFERENCE_KEY
from triage.similarity.terms import warm_terms


@dataclass(frozen=True)
class GroupChange:
    """What a group alert (or its dismissal) changes in one complaint decided before it: the new decision, and
    why (the reason its decision history records)."""

    complaint_id: str
    decision: Decision
    reason: str


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of some input, in words (the API turns these into its 422, the review pages
    into their message)."""

    field: str
    value: str
    message: str


class TriageService:
    """Model → similarity → policy. Without a similarity engine every complaint is a first complaint
    outside any group (what `triage predict` shows); with one, complaints must come in arrival order.

    Three engines meet around here and each has its own name: `policy_engine` applies the routing policy,
    `similarity` is the similarity engine (the window of recent complaints), and the store's SQLAlchemy engine
    is `Store.sql_engine` in the serving shell.

    `reference_key` keys the hashes of contract and card numbers in the similarity windows this service builds
    (`similarity_window`); a service passes its secret, the library and tests use the default."""

    def __init__(self, model: TriageModel, policy: Policy, similarity: SimilarityEngine | None = None,
                 reference_key: bytes = DEFAULT_REFERENCE_KEY):
        self.model = model
        self.policy = policy
        self.reference_key = reference_key
        self.policy_engine = PolicyEngine(policy)
        self.similarity = similarity

    @classmethod
    def from_paths(cls, model_dir: str | Path, policy_file: str | Path | None = None,
                   with_similarity: bool = False) -> TriageService:
        model = TriageModel.load(model_dir)
        policy = load_policy(policy_file)
        return cls(model, policy, cls.new_similarity(model, policy) if with_similarity else None)

    @staticmethod
    def new_similarity(model: TriageModel, policy: Policy, index_threshold: int = 20_000,
                       reference_key: bytes = DEFAULT_REFERENCE_KEY) -> SimilarityEngine:
        """An empty similarity window for this model's topic vectors. `reference_key` keys the hashes of the
        contract and card numbers that identify a matter (a service passes its secret; see `matter.py`)."""
        dim = model.topics_.n_topic_dims_ + len(model.classes_)
        similarity = SimilarityEngine(policy.similarity, dim, index_threshold=index_threshold, zone=policy.zone,
                                      reference_key=reference_key)
        similarity.model_version = model.version_
        return similarity

    def similarity_window(self) -> SimilarityEngine:
        """An empty similarity window for this service's model, policy and reference key."""
        return self.new_similarity(self.model, self.policy, reference_key=self.reference_key)

    def warm(self) -> None:
        """The model's lazy work and the similarity layer's word tables, before the first complaint."""
        self.model.warm()
        warm_terms()

    def triage(self, complaints: Sequence[ComplaintIn], flags: Sequence[SimilarityFlags | None] | None = None,
               embeddings: np.ndarray | None = None) -> list[Decision]:
        """Decide a batch: one embedding per complaint, one model call for the batch, then similarity and
        policy one complaint at a time (each sees the ones before it). `flags` override the similarity
        layer (for tests and `policy diff`)."""
        predictions, vectors = self.predict(complaints, embeddings)
        return [self.decide(complaint, prediction, None if vectors is None else vectors[i],
                            flags[i] if flags else None)
                for i, (complaint, prediction) in enumerate(zip(complaints, predictions, strict=True))]

    def predict(self, complaints: Sequence[ComplaintIn], embeddings: np.ndarray | None = None
                ) -> tuple[list[Prediction], np.ndarray | None]:
        """The model's half: stateless, so callers may run it in parallel (topic vectors only when a
        similarity engine will read them)."""
        return self.model.predict_with_topics([c.text for c in complaints], embeddings,
                                              topics=self.similarity is not None)

    def decide(self, complaint: ComplaintIn, prediction: Prediction, vector: np.ndarray | None,
               flags: SimilarityFlags | None = None) -> Decision:
        """The stateful half: similarity (which remembers the complaint) then policy; call in arrival order."""
        received = self.policy.localise(complaint.received_at)
        similarity = None
        if self.similarity is not None and flags is None:
            if vector is None:
                raise ValueError("this service has a similarity engine: decide() needs the topic vector")
            similarity = self.similarity.observe(
                complaint.complaint_id or f"anonymous-{uuid.uuid4().hex[:12]}", complaint.customer_id,
                received, prediction.masked_text, prediction.category, vector,
                channel=complaint.channel, product=complaint.product, raw_text=complaint.text)
        return self.policy_engine.decide(complaint, prediction, flags, received, similarity)

    def triage_one(self, complaint: ComplaintIn, flags: SimilarityFlags | None = None) -> Decision:
        return self.triage([complaint], [flags])[0]

    # ---- group alerts act on the whole group ----------------------------------------------------------
    def escalate_group(self, alert: GroupAlertRaised, decisions: Mapping[str, Decision]) -> list[GroupChange]:
        """When a cluster alerts, every complaint already in it is escalated as a complaint arriving now would
        be (`decisions`: the latest decision of each member the caller has; members missing are skipped).
        Members already carrying this alert — those that joined after it — are left as they are."""
        group = GroupInfo(cluster_id=alert.cluster_id, cluster_size=len(alert.members),
                          distinct_customers=alert.distinct_customers, alert=alert.level)
        reason = f"group alert {alert.cluster_id}" + (f" ({alert.level})" if alert.level == "major" else "")
        return self._regroup(alert.members, decisions, group, reason)

    def withdraw_group(self, cluster_id: str, decisions: Mapping[str, Decision]) -> list[GroupChange]:
        """A lead dismissed the cluster's alert as not one incident: what the alert added to its complaints
        (the group rules' tier floor, the group escalations) is taken back."""
        changes = []
        for complaint_id, decision in decisions.items():
            if decision.group.cluster_id != cluster_id or decision.group.alert is None:
                continue
            group = decision.group.model_copy(update={"alert": None})
            changes += self._regroup([complaint_id], decisions, group, f"group alert {cluster_id} dismissed")
        return changes

    def _regroup(self, members: Sequence[str], decisions: Mapping[str, Decision], group: GroupInfo,
                 reason: str) -> list[GroupChange]:
        changes = []
        for complaint_id in members:
            before = decisions.get(complaint_id)
            if before is None:
                continue
            after = self.policy_engine.regroup(before, group)
            if _routing_changed(before, after):
                changes.append(GroupChange(complaint_id, after, reason))
        return changes

    # ---- what a lead may correct a decision to ---------------------------------------------------------
    def categories(self) -> list[str]:
        """The categories the model knows: a correction may only name one of these."""
        return [str(c) for c in self.model.classes_]

    def departments(self) -> list[str]:
        """Departments the policy routes to: a correction may only name one of these."""
        names = {self.policy.fallback_department}
        for category in self.policy.categories.values():
            names.update([category.department, *category.co_departments])
        for rule in self.policy.rules:
            names.update(rule.co_departments)
        return sorted(names)

    def correction_problems(self, category: str | None, department: str | None) -> list[FieldProblem]:
        """A correction must name a category the model knows and a department the policy routes to."""
        problems = []
        if category and category not in (categories := self.categories()):
            problems.append(FieldProblem("category", category,
                                         f"category {category!r} is unknown; one of {', '.join(categories)}"))
        if department and department not in (departments := self.departments()):
            problems.append(FieldProblem("department", department,
                                         f"department {department!r} is unknown; one of {', '.join(departments)}"))
        return problems


def _routing_changed(before: Decision, after: Decision) -> bool:
    """Whether a regrouped decision routes differently: tier, escalation targets, the alert it carries or the
    cluster (the reasons' wording, e.g. a customer count, is no change)."""
    return (before.tier.label != after.tier.label or before.group.alert != after.group.alert
            or before.group.cluster_id != after.group.cluster_id
            or [e.target for e in before.escalations] != [e.target for e in after.escalations])
