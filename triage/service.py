"""TriageService: the one object the CLI, replay and the API call to turn complaints into decisions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from triage.models import TriageModel
from triage.policy import Policy, PolicyEngine, load_policy
from triage.schemas import ComplaintIn, Decision, SimilarityFlags


class TriageService:
    def __init__(self, model: TriageModel, policy: Policy):
        self.model = model
        self.policy = policy
        self.engine = PolicyEngine(policy)

    @classmethod
    def from_paths(cls, model_dir: str | Path, policy_file: str | Path | None = None) -> TriageService:
        return cls(TriageModel.load(model_dir), load_policy(policy_file))

    def warm(self) -> None:
        self.model.warm()

    def triage(self, complaints: Sequence[ComplaintIn], flags: Sequence[SimilarityFlags | None] | None = None,
               embeddings: np.ndarray | None = None) -> list[Decision]:
        """Decide a batch: one embedding per complaint, one model call for the batch."""
        predictions = self.model.predict([c.text for c in complaints], embeddings=embeddings)
        flags = flags or [None] * len(complaints)
        return [self.engine.decide(c, p, f) for c, p, f in zip(complaints, predictions, flags, strict=True)]

    def triage_one(self, complaint: ComplaintIn, flags: SimilarityFlags | None = None) -> Decision:
        return self.triage([complaint], [flags])[0]
