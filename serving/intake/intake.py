"""Intake: accept complaints for good. Idempotency, model, similarity, policy and the store, in arrival order.

The model half (embedding, classifiers) is stateless and runs in parallel on the caller's thread; the
similarity engine remembers every complaint, so deciding and committing happen one at a time: under this
process's lock, then in the store's global order (`Store.ordered`: one transaction at a time across every worker
and instance over the database), after catching this worker's window up on every complaint committed before.
That makes the store's order the order every similarity window saw. A complaint is committed before its
decision is returned. Micro-batching is in `batching.py`, the similarity window's rebuild in
`window.py`.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import numpy as np

from serving.alerts import alert_body
from serving.intake.window import build_similarity, catch_up, snapshot_lock
from serving.store import NewComplaint, Store, StoreConflict, StoredComplaint, StoredDecision, content_hash
from serving.store.alerts import new_alert_id
from serving.store.records import AlertRecord, MatterCorrectionEntry, Principal
from triage.models import TriageModel
from triage.schemas import ClusterSummary, ComplaintIn, GroupAlertRaised, Prediction
from triage.service import TriageService
from triage.similarity.corrections import MatterCorrection

log = logging.getLogger(__name__)


class IdConflict(Exception):
    """The complaint id was used before for a complaint with other content."""


class StoreFailure(Exception):
    """The complaint was decided but could not be committed: it was not accepted (retry it)."""


class FairLock:
    """A lock taken in the order it was asked for. threading.Lock lets a thread that just released it take it
    again ahead of the others, so under load one batch request could wait behind dozens of later ones."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> FairLock:
        with self._turns:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._turns.wait_for(lambda: self._serving == ticket)
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._turns:
            self._serving += 1
            self._turns.notify_all()


@dataclass(frozen=True)
class Accepted:
    decision: StoredDecision  # exactly as stored, and as the first answer gave it
    created: bool  # False: an idempotent retry of a stored complaint


Outcome = Accepted | IdConflict | StoreFailure


@dataclass
class Staged:
    """A batch between the model stage and the store stage."""

    complaints: list[ComplaintIn]
    submitters: list[int | None]
    digests: list[str]
    outcomes: list[Outcome | None]
    pending: list[int]
    service: TriageService
    predictions: list[Prediction]
    vectors: np.ndarray | None


# Letters only after the date: a hex tail can hold a run of 11+ digits, which masking must read as a number
# (about 1 generated id in 125 was answered as a `pii-` reference and then not found under the id returned).
_ID_LETTERS = "abcdefghjkmnpqrstuvwxyz"


def new_complaint_id(local_now: datetime) -> str:
    """C<bank-local date>-<12 letters>: sortable by day, unique without a round trip to the store (~55 bits)."""
    return f"C{local_now:%Y%m%d}-{''.join(secrets.choice(_ID_LETTERS) for _ in range(12))}"


class Intake:
    def __init__(self, service: TriageService, store: Store, snapshot_dir: Path | None = None,
                 alert_webhook: bool = False, on_alerts: Callable[[list[AlertRecord]], None] | None = None):
        if service.similarity is None:
            service.similarity = build_similarity(service, store, snapshot_dir)
        self.service = service
        self.store = store
        self.snapshot_dir = snapshot_dir
        self.alert_webhook = alert_webhook  # write each alert's delivery to the outbox
        self.on_alerts = on_alerts  # told of the alerts of each commit, after it (metrics, the outbox worker)
        self._lock = FairLock()
        self._window_stale = False  # a decided complaint failed to commit: the window must be rebuilt
        # Other workers committed complaints before our last turn: catch up on theirs before queueing for the
        # global order too (one instance alone skips that query).
        self._others_active = True

    # ---- accepting ---------------------------------------------------------------------------------
    def submit(self, complaint: ComplaintIn, submitted_by: int | None = None) -> Accepted:
        outcome = self.submit_many([complaint], submitted_by)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def submit_many(self, complaints: list[ComplaintIn], submitted_by: int | list[int | None] | None = None
                    ) -> list[Outcome]:
        """Each complaint is accepted (new or an idempotent retry), refused as an id conflict, or failed to be
        stored; one model call for all of them, then one complaint at a time. `submitted_by`: one key id for
        all, or one per complaint (the micro-batcher mixes callers)."""
        return self.store_stage(self.model_stage(complaints, submitted_by))

    def model_stage(self, complaints: list[ComplaintIn], submitted_by: int | list[int | None] | None = None
                    ) -> Staged:
        """The stateless half: ids, retries of stored complaints, and one model call. May run in parallel
        with `store_stage` of an earlier batch."""
        submitters = submitted_by if isinstance(submitted_by, list) else [submitted_by] * len(complaints)
        outcomes: list[Outcome | None] = [None] * len(complaints)
        # Ids as references, the product masked, before anything sees them (the routes did it already: idempotent)
        complaints[:] = [self.store.protector.protect(c) for c in complaints]
        digests = [content_hash(c) for c in complaints]
        pending: list[int] = []
        taken = self.store.taken([c.complaint_id for c in complaints if c.complaint_id is not None])
        for i, complaint in enumerate(complaints):
            if complaint.complaint_id is None:
                local_now = datetime.now(self.service.policy.zone)
                complaints[i] = complaint.model_copy(update={"complaint_id": new_complaint_id(local_now)})
            elif complaint.complaint_id in taken:  # a retry of a stored complaint: no model call for it
                found = self.store.find(complaint.complaint_id)
                if found is not None:
                    outcomes[i] = _retry(complaint.complaint_id, found, digests[i])
                    continue
            pending.append(i)
        service = self.service
        batch = [complaints[i] for i in pending]
        predictions, vectors = service.predict(batch) if batch else ([], None)
        return Staged(complaints, submitters, digests, outcomes, pending, service, predictions, vectors)

    def store_stage(self, staged: Staged) -> list[Outcome]:
        """The stateful half, in arrival order under the lock: similarity, policy, one commit for the batch."""
        complaints, submitters, digests = staged.complaints, staged.submitters, staged.digests
        outcomes, pending, service = staged.outcomes, staged.pending, staged.service
        predictions, vectors = staged.predictions, staged.vectors
        if not pending:
            return _settled(outcomes)
        batch = [complaints[i] for i in pending]
        with self._lock:
            if self.service is not service:  # the model was swapped meanwhile: its vectors live in another space
                service = self.service
                predictions, vectors = service.predict(batch)
            if self._window_stale:
                self._rebuild_window(service)
            decided: dict[str, tuple[int, NewComplaint]] = {}  # complaint id -> (position, what to store)
            repeated: list[tuple[int, int]] = []  # (position, position of the same id earlier in this batch)
            inserted: list[tuple[int, NewComplaint, int]] = []  # (position, row, number in the global order)
            alerts: list[AlertRecord] = []
            try:
                if self._others_active:  # their complaints since our last turn, read while they keep deciding
                    self._follow(service)
                with self.store.ordered():
                    # the rest: the window has now seen every complaint numbered before ours
                    self._others_active = self._follow(service) > 0
                    taken = self.store.taken([complaints[i].complaint_id for i in pending])  # type: ignore[misc]
                    raised: list[GroupAlertRaised] = []
                    for j, i in enumerate(pending):
                        complaint = complaints[i]
                        complaint_id: str = complaint.complaint_id  # type: ignore[assignment]
                        if complaint_id in decided:  # an earlier item of this batch, not stored yet
                            first, earlier = decided[complaint_id]
                            stored = StoredComplaint(earlier.digest, StoredDecision.of(earlier.decision))
                            outcomes[i] = _retry(complaint_id, stored, digests[i])
                            repeated.append((i, first))
                            continue
                        found = self.store.find(complaint_id) if complaint_id in taken else None
                        if found is not None:  # another request (on any worker) was first
                            outcomes[i] = _retry(complaint_id, found, digests[i])
                            continue
                        vector = None if vectors is None else vectors[j]
                        decision = service.decide(complaint, predictions[j], vector)
                        raised += service.similarity.take_alerts() if service.similarity else []
                        alerted = (self._summary(service, decision.group.cluster_id)
                                   if decision.group.alert and decision.group.cluster_id else None)
                        decided[complaint_id] = (i, NewComplaint(complaint, digests[i], decision, vector,
                                                                 submitters[i], alerted))
                    inserted = self._insert(list(decided.values()), outcomes)
                    alerts = self._record_alerts(service, raised, {row.decision.complaint_id for _, row, _ in inserted})
            except Exception as exc:  # nothing of this batch was committed (the database, or a bug: logged)
                log.exception("batch not stored")
                if decided:  # the window saw complaints the store did not take
                    self._window_stale = True
                inserted, alerts = [], []
                for i in pending:
                    if outcomes[i] is None:  # those another request had stored keep their answer
                        outcomes[i] = StoreFailure(f"complaint {complaints[i].complaint_id!r} could not be stored: "
                                                   f"{type(exc).__name__}")
            for i, row, number in inserted:  # committed: only now are they accepted
                outcomes[i] = Accepted(StoredDecision.of(row.decision), created=True)
                if service.similarity is not None:
                    service.similarity.store_seq = max(service.similarity.store_seq, number)
            if alerts and self.on_alerts is not None:
                self.on_alerts(alerts)
            for i, first in repeated:  # answered as its first occurrence ended: stored by us or by another process
                origin = outcomes[first]
                if isinstance(origin, Accepted):
                    outcomes[i] = _retry(str(complaints[i].complaint_id),
                                         StoredComplaint(digests[first], origin.decision), digests[i])
                elif digests[i] == digests[first]:
                    outcomes[i] = origin
        return _settled(outcomes)

    # ---- model swap and shutdown ------------------------------------------------------------------
    def swap(self, model: TriageModel) -> None:
        """Start deciding with another model, with no request failing meanwhile: the new similarity window is
        rebuilt from the store while the old service keeps working, then the complaints that arrived during
        the rebuild are caught up and the services are swapped, under the lock."""
        fresh = TriageService(model, self.service.policy, reference_key=self.service.reference_key)
        fresh.warm()
        similarity = build_similarity(fresh, self.store, None)
        with self._lock:
            catch_up(fresh, similarity, self.store, similarity.store_seq)
            fresh.similarity = similarity
            self.service = fresh
        log.info("model swapped", extra={"model_version": model.version_})

    def _insert(self, decided: list[tuple[int, NewComplaint]], outcomes: list[Outcome | None]
                ) -> list[tuple[int, NewComplaint, int]]:
        """Insert the decided complaints, numbered next in the global order, inside the caller's `ordered()`
        transaction (they are accepted when it commits). When the batch fails, one at a time (each in its own
        savepoint), so one bad row fails alone; a complaint the window saw but the store did not take makes the
        window stale. Returns (position, row, number) of each inserted one."""
        if not decided:
            return []
        try:
            numbers = self.store.add_many([row for _, row in decided])
            return [(i, row, number) for (i, row), number in zip(decided, numbers, strict=True)]
        except Exception:
            log.warning("a batch of %d failed to insert; inserting one at a time", len(decided), exc_info=True)
        inserted = []
        for i, row in decided:
            complaint_id = str(row.decision.complaint_id)
            try:
                inserted.append((i, row, self.store.add_many([row])[0]))
            except StoreConflict:  # written by something that bypassed the global order: compare content
                self._window_stale = True
                found = self.store.find(complaint_id)
                outcomes[i] = (_retry(complaint_id, found, row.digest) if found is not None
                               else StoreFailure(f"complaint {complaint_id!r} could not be stored"))
            except Exception as exc:
                log.exception("complaint %s not stored", complaint_id)
                self._window_stale = True
                outcomes[i] = StoreFailure(f"complaint {complaint_id!r} could not be stored: {type(exc).__name__}")
        return inserted

    # ---- group alerts: the whole group, delivered, reviewed ----------------------------------------------
    def _record_alerts(self, service: TriageService, raised: list[GroupAlertRaised], stored: set[str | None]
                       ) -> list[AlertRecord]:
        """Store the alerts the batch raised — each with the escalation of the complaints already in its cluster
        (the library's `escalate_group`) and, with a webhook, its delivery in the outbox — inside the batch's
        transaction. An alert whose complaint was not stored is not one (the window is rebuilt without it)."""
        records = []
        for alert in raised:
            if alert.trigger not in stored:
                continue
            changes = service.escalate_group(alert, self.store.latest_decisions(alert.members))
            alert_id = new_alert_id(alert)
            body = alert_body(alert_id, alert, changes) if self.alert_webhook else None
            records.append(self.store.record_alert(alert_id, alert, changes, body))
        return records

    def review_alert(self, alert_id: str, action: str, principal: Principal, comment: str = "") -> AlertRecord | None:
        """A lead's confirmation, or dismissal as not one incident: the cluster then alerts again only when it grows
        (`GroupDetector`), and what the alert added to its complaints is taken back (`withdraw_group`), each with a
        decision of its own. In the global order, so every worker's window is told at the same point. None for
        an unknown alert; raises AlertAlreadyReviewed."""
        with self._lock:
            stale_before = self._window_stale
            with self.store.ordered():
                service = self.service
                self._follow(service)
                alert = self.store.alert(alert_id)
                if alert is None:
                    return None
                if action != "dismiss" or alert.status != "open":
                    return self.store.review_alert(alert_id, action, principal, comment, self.store.last_seq())
                similarity = service.similarity
                members = list(self.store.alert_members(alert_id))
                holder = similarity.cluster_holding(members) if similarity else None
                self._window_stale = True  # the window is ahead of the store until the transaction commits
                customers = similarity.dismiss_alert(holder) if similarity and holder else None
                if holder and similarity:
                    members += [m for m in (similarity.cluster(holder) or {}).get("members", []) if m not in members]
                changes = service.withdraw_group(alert.cluster_id, self.store.latest_decisions(members))
                record = self.store.review_alert(alert_id, action, principal, comment, self.store.last_seq(),
                                                 customers, changes)
                if similarity is not None:
                    for entry in self.store.dismissals_after(similarity.dismissals_applied):
                        similarity.dismissals_applied = entry.id  # applied just now: a catch-up skips it
            self._window_stale = stale_before  # committed: store and window agree again
        log.info("group alert reviewed", extra={"alert_id": alert_id, "action": action})
        return record

    def _follow(self, service: TriageService) -> int:
        """Catch this worker's window up on the complaints other workers and instances committed since it last
        looked (every one of them, in the global order: the window is a replica of that order); how many."""
        if service.similarity is None:
            return 0
        return catch_up(service, service.similarity, self.store, service.similarity.store_seq, whole_order=True)

    def _rebuild_window(self, service: TriageService) -> None:
        log.warning("rebuilding the similarity window from the store after a failed commit")
        service.similarity = build_similarity(service, self.store, None)
        self._window_stale = False

    def correct_matters(self, customer_id: str, correction: MatterCorrection, principal: Principal,
                        comment: str = "") -> MatterCorrectionEntry:
        """Record a lead's split or join of a customer's matters and apply it to the similarity window, in the
        global order: no complaint is decided between the two on any worker, and the customer's next complaint
        follows it (other workers' windows apply it when they catch up). Raises the library's UnknownComplaints
        or MattersUnchanged (checked against the store's record)."""
        with self._lock:
            stale_before = self._window_stale
            with self.store.ordered():
                service = self.service
                self._follow(service)
                entry = self.store.correct_matters(customer_id, correction, principal, comment,
                                                   self.store.last_seq())
                similarity = service.similarity
                if similarity is not None:
                    self._window_stale = True  # the window is ahead of the store until the transaction commits
                    similarity.correct_matters(customer_id, correction)
                    similarity.corrections_applied = entry.id
            self._window_stale = stale_before  # committed: store and window agree again
        log.info("matters corrected", extra={"action": correction.action, "correction_id": entry.id})
        return entry

    def save_snapshot(self) -> None:
        """Write the similarity window so the next start replays only what came after it. The workers of one
        host share the snapshot directory: they write it one at a time (any of them is a valid prefix of the
        global order; the next start catches up from whichever was written last)."""
        if self.snapshot_dir is None or self.service.similarity is None:
            return
        with self._lock, snapshot_lock(self.snapshot_dir, exclusive=True):
            self.service.similarity.save(self.snapshot_dir)

    def clusters(self) -> list[ClusterSummary]:
        """Active clusters of the window (read under the lock: the engine changes with every complaint), caught
        up first on what other workers committed."""
        with self._lock:
            self._follow(self.service)
            found = self.service.similarity.clusters() if self.service.similarity else []
        return [ClusterSummary.model_validate(summary) for summary in found]

    def cluster(self, cluster_id: str) -> ClusterSummary | None:
        """A cluster of the window, or None when it expired or was merged away."""
        with self._lock:
            self._follow(self.service)
            return self._summary(self.service, cluster_id)

    @staticmethod
    def _summary(service: TriageService, cluster_id: str) -> ClusterSummary | None:
        found = service.similarity.cluster(cluster_id) if service.similarity else None
        return None if found is None else ClusterSummary.model_validate(found)

    def window_size(self) -> int:
        """Complaints in the similarity engine's group window (a gauge of /metrics)."""
        similarity = self.service.similarity
        return len(similarity.groups.members) if similarity else 0

    @property
    def model(self) -> TriageModel:
        return self.service.model


def _retry(complaint_id: str, found: StoredComplaint, digest: str) -> Accepted | IdConflict:
    if found.content_hash != digest:
        return IdConflict(f"complaint_id {complaint_id!r} was already used for a complaint with other content")
    return Accepted(found.decision, created=False)


def _settled(outcomes: list[Outcome | None]) -> list[Outcome]:
    """Every complaint of a batch has its outcome once the store stage ends."""
    return cast(list[Outcome], outcomes)
