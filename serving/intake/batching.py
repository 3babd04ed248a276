"""Micro-batching: single complaints that arrive together are decided together (one encode, one pass under the
intake lock), on two threads so the next batch is embedded while the previous one is decided and committed."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from serving.intake.intake import Accepted, Intake, Staged
from triage.schemas import ComplaintIn


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
        self._staged: queue.Queue[tuple[list[_Waiting], Staged | BaseException] | None] = queue.Queue(maxsize=1)
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
            staged: Staged | BaseException
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
