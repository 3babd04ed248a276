"""The similarity window's rebuild and catch-up: the engine that remembers recent complaints lives in each worker's
process, a replica of the store's global order. On start, after a failed commit and on a model swap it is rebuilt
from its snapshot and the store; before each decision it catches up on what other workers committed."""

from __future__ import annotations

import dataclasses
import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from serving.store import Store
from serving.store.matters import as_correction
from triage.features.prepare import prepare_text
from triage.service import TriageService
from triage.similarity.engine import STATE_FILE, SimilarityEngine, SimilarityStateError

log = logging.getLogger(__name__)
REBUILD_BATCH = 512


def _horizon(service: TriageService) -> timedelta:
    config = service.policy.similarity
    # term_days: the group detector's term baseline needs at least the recent period it tests bursts over
    return timedelta(days=max(config.repeat.window_days, config.groups.window_days, config.groups.term_days))


@contextmanager
def snapshot_lock(snapshot_dir: Path, exclusive: bool) -> Iterator[None]:
    """The workers of one host share the snapshot directory: one writes it at a time, and nobody reads it
    while it is being swapped (an advisory lock on a file beside it; released if the process dies)."""
    snapshot_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(snapshot_dir.with_name(snapshot_dir.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_similarity(service: TriageService, store: Store, snapshot_dir: Path | None) -> SimilarityEngine:
    """The similarity engine for this service's model: the saved snapshot when it was written by this model,
    plus the complaints stored after it; otherwise rebuilt from the stored complaints of the window."""
    similarity = None
    if snapshot_dir is not None and (snapshot_dir / STATE_FILE).exists():
        try:
            with snapshot_lock(snapshot_dir, exclusive=False):
                similarity = SimilarityEngine.load(snapshot_dir, service.policy.similarity, service.model.version_,
                                                   reference_key=service.reference_key)
        except (SimilarityStateError, OSError) as exc:  # the snapshot is a cache: rebuild what it would have held
            log.warning("similarity snapshot not used: %s; rebuilding from the store", exc)
    if similarity is None:
        similarity = service.similarity_window()
    catch_up(service, similarity, store, similarity.store_seq)
    return similarity


def catch_up(service: TriageService, similarity: SimilarityEngine, store: Store, after_seq: int,
             whole_order: bool = False) -> int:
    """Feed the engine the stored complaints of the window that came after `after_seq`, in arrival order,
    and the leads' matter corrections it has not applied, each after the complaints stored before it was made.
    Topic vectors are reused when this model made them, else recomputed from the text. `whole_order`: every
    complaint after `after_seq`, however old its date (a live replica must see exactly what the worker that decided
    it saw); otherwise only those received within the window's horizon (a rebuild)."""
    since = None if whole_order else datetime.now(UTC) - _horizon(service)
    version = service.model.version_
    rows = list(store.window(since, after_seq))
    corrections = list(store.matter_corrections_after(similarity.corrections_applied))

    def correct_before(seq: int | None) -> None:
        while corrections and (seq is None or corrections[0].after_seq < seq):
            entry = corrections.pop(0)
            similarity.correct_matters(entry.customer_id, as_correction(entry))
            similarity.corrections_applied = entry.id

    # The leads' dismissals of group alerts, likewise (cluster ids may differ in a rebuilt window: the cluster
    # holding the alert's complaints is the one dismissed).
    dismissals = list(store.dismissals_after(similarity.dismissals_applied))

    def dismiss_before(seq: int | None) -> None:
        while dismissals and (seq is None or dismissals[0].after_seq < seq):
            entry = dismissals.pop(0)
            holder = similarity.cluster_holding(entry.members)
            if holder is not None:
                similarity.dismiss_alert(holder, entry.customers)
            similarity.dismissals_applied = entry.id
    for start in range(0, len(rows), REBUILD_BATCH):
        chunk = rows[start:start + REBUILD_BATCH]
        stale = [i for i, r in enumerate(chunk) if r.vector is None or r.model_version != version]
        if stale:
            predictions, vectors = service.model.predict_with_topics([chunk[i].text for i in stale])
            assert vectors is not None
            for i, prediction, vector in zip(stale, predictions, vectors, strict=True):
                chunk[i] = dataclasses.replace(chunk[i], vector=vector, category=prediction.category)
        for row in chunk:
            assert row.vector is not None  # stale rows got theirs above
            correct_before(row.seq)
            dismiss_before(row.seq)
            # The original's card numbers identify a matter as they did at intake (the stored text is masked).
            similarity.observe(row.complaint_id, row.customer_id, row.received_at, prepare_text(row.text).text,
                               row.category, row.vector, channel=row.channel, product=row.product,
                               raw_text=row.original or row.text)
            similarity.store_seq = row.seq
    correct_before(None)
    dismiss_before(None)
    similarity.take_alerts()  # raised again by complaints another worker (or an earlier run) decided and recorded
    similarity.store_seq = max(similarity.store_seq, after_seq)
    return len(rows)
