"""Intake: accept complaints for good. Idempotency, model, similarity, policy and the store, in arrival order.

The model half (embedding, classifiers) is stateless and runs in parallel on the caller's thread; the
similarity engine remembers every complaint, so deciding and committing happen one at a time under a lock,
which also makes the store's arrival order the order the similarity engine saw. A complaint is committed
before its decision is returned. Micro-batching is in `batching.py`, the similarity window's rebuild in
`window.py`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import numpy as np

from serving.intake.window import build_similarity, catch_up
from serving.store import NewComplaint, Store, StoreConflict, StoredComplaint, StoredDecision, content_hash
from triage.models import TriageModel
from triage.schemas import ClusterSummary, ComplaintIn, Prediction
from triage.service import TriageService

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


def new_complaint_id(local_now: datetime) -> str:
    """C<bank-local date>-<12 hex>: sortable by day, unique without a round trip to the store."""
    return f"C{local_now:%Y%m%d}-{uuid.uuid4().hex[:12]}"


class Intake:
    def __init__(self, service: TriageService, store: Store, snapshot_dir: Path | None = None):
        if service.similarity is None:
            service.similarity = build_similarity(service, store, snapshot_dir)
        self.service = service
        self.store = store
        self.snapshot_dir = snapshot_dir
        self._lock = FairLock()
        self._window_stale = False  # a decided complaint failed to commit: the window must be rebuilt

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
            taken = self.store.taken([complaints[i].complaint_id for i in pending])  # type: ignore[misc]
            decided: dict[str, tuple[int, NewComplaint]] = {}  # complaint id -> (position, what to store)
            repeated: list[tuple[int, int]] = []  # (position, position of the same id earlier in this batch)
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
                if found is not None:  # another request was first
                    outcomes[i] = _retry(complaint_id, found, digests[i])
                    continue
                vector = None if vectors is None else vectors[j]
                decision = service.decide(complaint, predictions[j], vector)
                alerted = (self._summary(service, decision.group.cluster_id)
                           if decision.group.alert and decision.group.cluster_id else None)
                decided[complaint_id] = (i, NewComplaint(complaint, digests[i], decision, vector, submitters[i],
                                                         alerted))
            self._commit(list(decided.values()), outcomes, service)
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
        fresh = TriageService(model, self.service.policy)
        fresh.warm()
        similarity = build_similarity(fresh, self.store, None)
        with self._lock:
            catch_up(fresh, similarity, self.store, similarity.store_seq)
            fresh.similarity = similarity
            self.service = fresh
        log.info("model swapped", extra={"model_version": model.version_})

    def _commit(self, decided: list[tuple[int, NewComplaint]], outcomes: list[Outcome | None],
                service: TriageService) -> None:
        """Store the decided complaints in one transaction; when that fails, one at a time, so one bad row
        fails alone. A complaint the window saw but the store did not take makes the window stale."""
        if not decided:
            return
        try:
            seqs = self.store.add_many([row for _, row in decided])
        except Exception:
            seqs = []
            for i, row in decided:
                try:
                    seqs.append(self.store.add_many([row])[0])
                except StoreConflict:  # another process stored the id between our check and our insert
                    self._window_stale = True
                    complaint_id = str(row.decision.complaint_id)
                    found = self.store.find(complaint_id)
                    outcomes[i] = (_retry(complaint_id, found, row.digest) if found is not None
                                   else StoreFailure(f"complaint {complaint_id!r} could not be stored"))
                except Exception as exc:
                    log.exception("complaint %s not stored", row.decision.complaint_id)
                    self._window_stale = True
                    outcomes[i] = StoreFailure(f"complaint {row.decision.complaint_id!r} could not be stored: "
                                               f"{type(exc).__name__}")
            decided = [(i, row) for i, row in decided if outcomes[i] is None]
        for (i, row), seq in zip(decided, seqs, strict=True):
            outcomes[i] = Accepted(StoredDecision.of(row.decision), created=True)
            if service.similarity is not None:
                service.similarity.store_seq = max(service.similarity.store_seq, seq)

    def _rebuild_window(self, service: TriageService) -> None:
        log.warning("rebuilding the similarity window from the store after a failed commit")
        service.similarity = build_similarity(service, self.store, None)
        self._window_stale = False

    def save_snapshot(self) -> None:
        """Write the similarity window so the next start replays only what came after it."""
        if self.snapshot_dir is None or self.service.similarity is None:
            return
        with self._lock:
            self.service.similarity.save(self.snapshot_dir)

    def clusters(self) -> list[ClusterSummary]:
        """Active clusters of the window (read under the lock: the engine changes with every complaint)."""
        with self._lock:
            found = self.service.similarity.clusters() if self.service.similarity else []
        return [ClusterSummary.model_validate(summary) for summary in found]

    def cluster(self, cluster_id: str) -> ClusterSummary | None:
        """A cluster of the window, or None when it expired or was merged away."""
        with self._lock:
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
