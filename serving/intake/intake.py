"""Intake: accept complaints for good. Idempotency, model, similarity, policy and the store, in arrival order.

The model half (embedding, classifiers) is stateless and runs in parallel on the caller's thread; the
similarity engine remembers every complaint, so deciding and committing happen one at a time under a lock,
which also makes the store's arrival order the order the similarity engine saw. A complaint is committed
before its decision is returned.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from serving.store import Store, StoreConflict
from serving.store.store import NewComplaint, content_hash
from triage.features.prepare import prepare_text
from triage.models import TriageModel
from triage.schemas import ComplaintIn, Decision
from triage.service import TriageService
from triage.similarity.engine import SimilarityEngine, SimilarityStateError

log = logging.getLogger(__name__)
REBUILD_BATCH = 512


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


@dataclass
class _Staged:
    """A batch between the model stage and the store stage."""

    complaints: list[ComplaintIn]
    submitters: list[int | None]
    digests: list[str]
    outcomes: list
    pending: list[int]
    service: TriageService
    predictions: list
    vectors: np.ndarray | None


@dataclass(frozen=True)
class Accepted:
    decision: dict  # the Decision as JSON, exactly as stored
    created: bool  # False: an idempotent retry of a stored complaint


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
                    ) -> list[Accepted | IdConflict | StoreFailure]:
        """Each complaint is accepted (new or an idempotent retry), refused as an id conflict, or failed to be
        stored; one model call for all of them, then one complaint at a time. `submitted_by`: one key id for
        all, or one per complaint (the micro-batcher mixes callers)."""
        return self.store_stage(self.model_stage(complaints, submitted_by))

    def model_stage(self, complaints: list[ComplaintIn], submitted_by: int | list[int | None] | None = None
                    ) -> _Staged:
        """The stateless half: ids, retries of stored complaints, and one model call. May run in parallel
        with `store_stage` of an earlier batch."""
        submitters = submitted_by if isinstance(submitted_by, list) else [submitted_by] * len(complaints)
        outcomes: list[Accepted | IdConflict | StoreFailure | None] = [None] * len(complaints)
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
        return _Staged(complaints, submitters, digests, outcomes, pending, service, predictions, vectors)

    def store_stage(self, staged: _Staged) -> list[Accepted | IdConflict | StoreFailure]:
        """The stateful half, in arrival order under the lock: similarity, policy, one commit for the batch."""
        complaints, submitters, digests = staged.complaints, staged.submitters, staged.digests
        outcomes, pending, service = staged.outcomes, staged.pending, staged.service
        predictions, vectors = staged.predictions, staged.vectors
        if not pending:
            return outcomes
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
                    outcomes[i] = _retry(complaint_id, (earlier.digest, decision_json(earlier.decision)), digests[i])
                    repeated.append((i, first))
                    continue
                found = self.store.find(complaint_id) if complaint_id in taken else None
                if found is not None:  # another request was first
                    outcomes[i] = _retry(complaint_id, found, digests[i])
                    continue
                vector = None if vectors is None else vectors[j]
                decision = service.decide(complaint, predictions[j], vector)
                engine = service.similarity
                alerted = (engine.cluster(decision.group.cluster_id)
                           if engine is not None and decision.group.alert and decision.group.cluster_id else None)
                decided[complaint_id] = (i, NewComplaint(complaint, digests[i], decision, vector, submitters[i],
                                                         alerted))
            self._commit(list(decided.values()), outcomes, service)
            for i, first in repeated:  # answered as its first occurrence ended: stored by us or by another process
                origin = outcomes[first]
                if isinstance(origin, Accepted):
                    outcomes[i] = _retry(str(complaints[i].complaint_id), (digests[first], origin.decision),
                                         digests[i])
                elif digests[i] == digests[first]:
                    outcomes[i] = origin
        return outcomes

    # ---- model swap and shutdown ------------------------------------------------------------------
    def swap(self, model: TriageModel) -> None:
        """Start deciding with another model, with no request failing meanwhile: the new similarity window is
        rebuilt from the store while the old service keeps working, then the complaints that arrived during
        the rebuild are caught up and the services are swapped, under the lock."""
        model.warm()
        fresh = TriageService(model, self.service.policy)
        engine = build_similarity(fresh, self.store, None)
        with self._lock:
            catch_up(fresh, engine, self.store, engine.store_seq)
            fresh.similarity = engine
            self.service = fresh
        log.info("model swapped", extra={"model_version": model.version_})

    def _commit(self, decided: list[tuple[int, NewComplaint]], outcomes: list, service: TriageService) -> None:
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
            outcomes[i] = Accepted(decision_json(row.decision), created=True)
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

    def clusters(self) -> list[dict]:
        """Active clusters of the window (read under the lock: the engine changes with every complaint)."""
        with self._lock:
            return self.service.similarity.clusters() if self.service.similarity else []

    def cluster(self, cluster_id: str) -> dict | None:
        with self._lock:
            return self.service.similarity.cluster(cluster_id) if self.service.similarity else None

    @property
    def model(self) -> TriageModel:
        return self.service.model


def decision_json(decision: Decision) -> dict:
    return decision.model_dump(mode="json")


def _retry(complaint_id: str, found: tuple[str, dict], digest: str) -> Accepted | IdConflict:
    stored_digest, decision = found
    if stored_digest != digest:
        return IdConflict(f"complaint_id {complaint_id!r} was already used for a complaint with other content")
    return Accepted(decision, created=False)


def _horizon(service: TriageService) -> timedelta:
    config = service.policy.similarity
    return timedelta(days=max(config.repeat.window_days, config.groups.window_days))


def build_similarity(service: TriageService, store: Store, snapshot_dir: Path | None) -> SimilarityEngine:
    """The similarity engine for this service's model: the saved snapshot when it was written by this model,
    plus the complaints stored after it; otherwise rebuilt from the stored complaints of the window."""
    engine = None
    if snapshot_dir is not None and (snapshot_dir / "similarity.joblib").exists():
        try:
            engine = SimilarityEngine.load(snapshot_dir, service.policy.similarity, service.model.version_)
        except (SimilarityStateError, OSError) as exc:  # the snapshot is a cache: rebuild what it would have held
            log.warning("similarity snapshot not used: %s; rebuilding from the store", exc)
    if engine is None:
        engine = TriageService.new_similarity(service.model, service.policy)
    catch_up(service, engine, store, engine.store_seq)
    return engine


def catch_up(service: TriageService, engine: SimilarityEngine, store: Store, after_seq: int) -> int:
    """Feed the engine the stored complaints of the window that came after `after_seq`, in arrival order.
    Their topic vectors are reused when this model made them, else recomputed from the text."""
    since = datetime.now(UTC) - _horizon(service)
    version = service.model.version_
    rows = list(store.window(since, after_seq))
    for start in range(0, len(rows), REBUILD_BATCH):
        chunk = rows[start:start + REBUILD_BATCH]
        stale = [r for r in chunk if r["vector"] is None or r["model_version"] != version]
        if stale:
            predictions, vectors = service.model.predict_with_topics([r["text"] for r in stale])
            assert vectors is not None
            for row, prediction, vector in zip(stale, predictions, vectors, strict=True):
                row["vector"], row["category"] = vector, prediction.category
        for row in chunk:
            engine.observe(row["complaint_id"], row["customer_id"], row["received_at"],
                           prepare_text(row["text"]).text, row["category"], row["vector"],
                           channel=row["channel"], product=row["product"])
            engine.store_seq = row["seq"]
    engine.store_seq = max(engine.store_seq, after_seq)
    return len(rows)


@dataclass
class _Waiting:
    complaint: ComplaintIn
    submitted_by: int | None
    done: Future


class MicroBatcher:
    """Decides complaints that arrive at the same time together: one embedding and classifier call for all of
    them (the encoder is several times cheaper per text in a batch), one pass under the intake lock.

    Greedy, not timed: a worker takes whatever is waiting the moment it is free, so a lone request waits for
    nothing, and under load the batch is what arrived while the previous one was being decided (up to
    `max_batch`). `max_wait_ms` > 0 adds a short wait for company after the first arrival.
    """

    def __init__(self, intake: Intake, max_batch: int = 64, max_wait_ms: float = 0.0):
        self.intake = intake
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        # Two stages on two threads: while one batch is decided and committed, the next is embedded (the
        # encoder's matrix products release the GIL, so the stages overlap on two cores).
        self._staged: queue.Queue[tuple[list[_Waiting], _Staged | BaseException] | None] = queue.Queue(maxsize=1)
        self._model_worker = threading.Thread(target=self._model_loop, name="micro-batch-model", daemon=True)
        self._store_worker = threading.Thread(target=self._store_loop, name="micro-batch-store", daemon=True)
        self._model_worker.start()
        self._store_worker.start()
        self.batches = 0
        self.complaints = 0

    def submit(self, complaint: ComplaintIn, submitted_by: int | None = None) -> Accepted:
        waiting = _Waiting(complaint, submitted_by, Future())
        self._queue.put(waiting)
        return waiting.done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._model_worker.join(timeout=30)
        self._store_worker.join(timeout=30)

    def _take(self) -> list[_Waiting] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # close after this batch
                break
            batch.append(item)
        return batch

    def _model_loop(self) -> None:
        while (batch := self._take()) is not None:
            staged: _Staged | BaseException
            try:
                staged = self.intake.model_stage([w.complaint for w in batch], [w.submitted_by for w in batch])
            except BaseException as exc:  # a bug, not a bad complaint: every caller of the batch hears of it
                staged = exc
            self._staged.put((batch, staged))
        self._staged.put(None)

    def _store_loop(self) -> None:
        while (item := self._staged.get()) is not None:
            batch, staged = item
            try:
                if isinstance(staged, BaseException):
                    raise staged
                outcomes = self.intake.store_stage(staged)
            except BaseException as exc:
                for waiting in batch:
                    waiting.done.set_exception(exc)
                continue
            self.batches += 1
            self.complaints += len(batch)
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    waiting.done.set_exception(outcome)
                else:
                    waiting.done.set_result(outcome)
