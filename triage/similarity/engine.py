"""SimilarityEngine: repeat, copy-paste and group detection for one complaint at a time, in arrival order.

It holds the recent past in memory (the repeat window per customer, the group window for everyone) and
can save it to a directory and load it back, so a service restart keeps its memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import joblib
import numpy as np

from triage.features.tokenizer import tokenize
from triage.policy.schema import Similarity
from triage.schemas import GroupAlertRaised, SimilarityResult
from triage.similarity.corrections import MatterCorrection
from triage.similarity.groups import GroupDetector, Member, cluster_name, cluster_number
from triage.similarity.matter import DEFAULT_REFERENCE_KEY, key_fingerprint
from triage.similarity.repeat import RepeatDetector
from triage.similarity.terms import candidate_terms

STATE_FORMAT = 4  # 3: the group detector learns term frequencies; 4: the repeat detector, matter keys
STATE_FILE = "similarity.joblib"
INDEX_DIR = "index"
WORDS_KEPT = 600  # characters of joined words kept per complaint in the group window (labels, copy-paste)


class SimilarityStateError(RuntimeError):
    """A saved similarity state can't be used with this model or policy."""


class SimilarityEngine:
    # The last stored matter correction (the service's record id) applied to the window; a class default so
    # that a snapshot saved before corrections existed loads as "none applied".
    corrections_applied: int = 0
    dismissals_applied: int = 0  # the same for the leads' dismissals of group alerts

    def __init__(self, config: Similarity, dim: int, index_threshold: int = 20_000, zone: tzinfo = UTC,
                 reference_key: bytes = DEFAULT_REFERENCE_KEY):
        self.config = config
        self.dim = dim
        self.repeats = RepeatDetector(config.repeat, reference_key=reference_key)
        self.groups = GroupDetector(config.groups, dim, index_threshold=index_threshold, zone=zone)
        self._next_key = 0
        self.model_version: str | None = None  # the model whose topic vectors are in the window
        self.store_seq = 0  # arrival number (in the service's store) of the last complaint observed

    def observe(self, complaint_id: str, customer_id: str | None, received_at: datetime, text: str,
                category: str, vector: np.ndarray, channel: str | None = None,
                product: str | None = None, raw_text: str | None = None,
                tokens: list[str] | None = None) -> SimilarityResult:
        """Everything the similarity layer finds about one complaint; it is remembered afterwards.

        `text` is the normalised, masked text; `vector` the model's topic vector for it; `raw_text` the text
        before masking, when the caller has it (its bank-card numbers identify a matter, compared hashed);
        `tokens` its `tokenize(text)` when a caller computed it elsewhere (the Spark backtest, in parallel).
        """
        if received_at.tzinfo is None:
            raise ValueError("received_at must carry a time zone")
        if vector.shape != (self.dim,):
            raise ValueError(f"topic vector of shape {vector.shape}, this engine holds {self.dim}-d vectors")
        # The bank's calendar day, whatever zone the caller wrote: new facts compare days, and a replica that
        # reads the time back from the store in UTC must see the same day as the worker that took it.
        received_at = received_at.astimezone(self.groups.zone)
        at = received_at.timestamp()
        tokens = tokenize(text) if tokens is None else tokens
        words = " ".join(tokens)
        repeat = self.repeats.observe(complaint_id, customer_id, received_at, text, words, category, vector,
                                      raw_text)
        self.groups.expire(at)
        self._next_key += 1
        member = Member(key=self._next_key, complaint_id=complaint_id,
                        customer=customer_id or f"anonymous:{complaint_id}", at=at, channel=channel,
                        product=product, vector=vector.astype(np.float16), words=words[:WORDS_KEPT],
                        terms=frozenset(candidate_terms(tokens)))
        neighbours = self.groups.neighbours(vector, at)
        coordinated = self.groups.coordinated(member, neighbours, self.config.coordinated)
        group = self.groups.add(member, neighbours)
        return SimilarityResult(repeat=repeat, group=group, coordinated=coordinated)

    def correct_matters(self, customer_id: str, correction: MatterCorrection, strict: bool = False
                        ) -> dict[str, str]:
        """A lead's split or join of the customer's matters, honoured by their next complaints; returns the
        complaints of the window it moved, with their new matter (see `RepeatDetector.correct`)."""
        return self.repeats.correct(customer_id, correction, strict)

    def clusters(self, min_size: int = 2) -> list[dict]:
        return self.groups.active(min_size)

    def cluster(self, cluster_id: str) -> dict | None:
        """The summary of one cluster of the window (None when it expired or was merged away)."""
        number = cluster_number(cluster_id)
        cluster = self.groups.clusters.get(number) if number is not None else None
        return self.groups.summary(cluster) if cluster is not None else None

    def alert_history(self) -> list[dict]:
        return self.groups.alert_history()

    # ---- group alerts: announced, dismissed ----------------------------------------------------------
    def take_alerts(self) -> list[GroupAlertRaised]:
        """The group alerts raised since the last call (by `observe`), oldest first: the caller acts on them."""
        return self.groups.take_raised()

    def dismiss_alert(self, cluster_id: str, customers: list[str] | None = None) -> list[str] | None:
        """A lead's dismissal of a cluster's alert: its complaints carry no alert until it grows (see
        `GroupDetector`). Returns the customers it had (to restore the dismissal after a rebuild with
        `customers`), or None when the cluster is no longer in the window."""
        number = cluster_number(cluster_id)
        dismissal = None if number is None else self.groups.dismiss(
            number, None if customers is None else frozenset(customers))
        return None if dismissal is None else sorted(dismissal.customers)

    def cluster_holding(self, complaint_ids: list[str]) -> str | None:
        """The id of the live cluster that holds most of these complaints (after a rebuild, ids may differ)."""
        number = self.groups.cluster_holding(complaint_ids)
        return None if number is None else cluster_name(number)

    # ---- persistence -------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the state atomically and durably: a crash or power cut mid-save leaves the previous state."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        for leftover in directory.parent.glob(".similarity-*"):  # staging of a save a crash interrupted
            shutil.rmtree(leftover, ignore_errors=True)
        self.groups.flush()
        staging = Path(tempfile.mkdtemp(prefix=".similarity-", dir=directory.parent))
        try:
            self.groups.index.save(staging / INDEX_DIR)
            index, self.groups.index = self.groups.index, None  # type: ignore[assignment]
            try:
                joblib.dump({"format": STATE_FORMAT, "engine": self}, staging / STATE_FILE, compress=0)
            finally:
                self.groups.index = index
            _private_tree(staging)
            _fsync_tree(staging)
            if directory.exists():
                old = directory.with_name(directory.name + ".old")
                shutil.rmtree(old, ignore_errors=True)
                directory.rename(old)
                staging.rename(directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                staging.rename(directory)
            _fsync(directory.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str], config: Similarity | None = None,
             model_version: str | None = None, reference_key: bytes = DEFAULT_REFERENCE_KEY) -> SimilarityEngine:
        """Load a saved state (a trusted file: it is a pickle). `config` replaces the saved thresholds.
        With `model_version`, refuse a state whose topic vectors another model made (their spaces differ:
        the window must be rebuilt from the stored complaints instead); refuse one whose references were
        hashed with another `reference_key` (the key itself is never saved)."""
        from triage.similarity.index import load_index

        directory = Path(directory)
        try:
            state = joblib.load(directory / STATE_FILE)
        except FileNotFoundError:
            raise
        except Exception as exc:  # a torn or foreign file: the caller rebuilds from the store
            raise SimilarityStateError(f"{directory}: unreadable state ({type(exc).__name__}: {exc})") from exc
        if state.get("format") != STATE_FORMAT:
            raise SimilarityStateError(f"{directory}: state format {state.get('format')!r}, "
                                       f"this code reads {STATE_FORMAT}")
        engine: SimilarityEngine = state["engine"]
        if model_version is not None and engine.model_version != model_version:
            raise SimilarityStateError(f"{directory}: topic vectors of model {engine.model_version}, "
                                       f"the loaded model is {model_version}")
        if getattr(engine.repeats, "reference_key_id", None) != key_fingerprint(reference_key):
            raise SimilarityStateError(f"{directory}: references hashed with another reference key")
        engine.repeats.reference_key = reference_key
        engine.groups.index = load_index(directory / INDEX_DIR)  # type: ignore[assignment]
        engine.groups.announced  # noqa: B018 — a state saved before alerts were announced: its alerts count as announced
        if config is not None:
            engine.config = config
            engine.repeats.config = config.repeat
            engine.groups.config = config.groups
            engine.groups.terms.memory_seconds = config.groups.term_memory_days * 86400.0
        return engine


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _private_tree(root: Path) -> None:
    """Owner-only files (0600): the state holds customer references and complaint ids (mkdtemp made the directory
    0700 already; the files would otherwise carry the umask's 0644 wherever they are copied)."""
    for path in root.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under root to disk (a rename is only as durable as what it names)."""
    for path in sorted(root.rglob("*"), reverse=True):
        _fsync(path)
    _fsync(root)
