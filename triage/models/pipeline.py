"""The scikit-learn pipeline behind each head (category, tier).

Input is a DataFrame with a `text` column (normalised, masked) and an `embedding` column (one vector
per row). The embedding is computed once per complaint outside the pipeline, so the classifier and
the similarity layer share it, and so a clone or a grid search never re-embeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from triage.features.tokenizer import tokenize


class ComplaintFeatures(BaseEstimator, TransformerMixin):
    """char n-gram TF-IDF + jieba word TF-IDF + the sentence embedding, side by side (sparse).

    The embedding is scaled by `embedding_weight` so its 512 dense dimensions neither drown nor
    vanish beside the sparse TF-IDF blocks. (A ColumnTransformer does the same job, at ~2 ms more
    per call in bookkeeping — as much as the vectorisers themselves.)
    """

    def __init__(
        self,
        char_ngram_range: tuple[int, int] = (1, 3),
        word_ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 2,
        embedding_weight: float = 0.5,
    ):
        self.char_ngram_range = char_ngram_range
        self.word_ngram_range = word_ngram_range
        self.min_df = min_df
        self.embedding_weight = embedding_weight

    def fit(self, X: pd.DataFrame, y=None):
        texts = list(X["text"])
        self.char_ = TfidfVectorizer(analyzer="char", ngram_range=self.char_ngram_range, min_df=self.min_df,
                                     sublinear_tf=True).fit(texts)
        self.word_ = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False,
                                     ngram_range=self.word_ngram_range, min_df=self.min_df,
                                     sublinear_tf=True).fit(texts)
        return self

    def transform(self, X: pd.DataFrame) -> sp.csr_matrix:
        texts = list(X["text"])
        embedding = np.vstack(list(X["embedding"])).astype(np.float64) * self.embedding_weight
        return sp.hstack([self.char_.transform(texts), self.word_.transform(texts), sp.csr_matrix(embedding)],
                         format="csr")


def build_features(
    *,
    char_ngram_range: tuple[int, int] = (1, 3),
    word_ngram_range: tuple[int, int] = (1, 2),
    min_df: int = 2,
    embedding_weight: float = 0.5,
) -> ComplaintFeatures:
    return ComplaintFeatures(char_ngram_range, word_ngram_range, min_df, embedding_weight)


def build_classifier(
    *,
    C: float = 0.1,
    calibration: str = "isotonic",
    calibration_cv: int = 5,
    ensemble: bool = True,
    class_weight: str | None = "balanced",
) -> CalibratedClassifierCV:
    """Linear SVM with calibrated probabilities, averaged over the `calibration_cv` folds.
    (`ensemble=False`, one SVM and one calibrator, predicts faster but calibrated worse on celine
    dev: ECE 0.047 against 0.032.)"""
    return CalibratedClassifierCV(LinearSVC(C=C, class_weight=class_weight), method=calibration,
                                  cv=calibration_cv, ensemble=ensemble)


def build_text_classifier(feature_params: dict | None = None, classifier_params: dict | None = None) -> Pipeline:
    """features → calibrated linear SVM, as one clonable, grid-searchable pipeline."""
    return Pipeline([("features", build_features(**(feature_params or {}))),
                     ("classifier", build_classifier(**(classifier_params or {})))])


def as_frame(texts: list[str], embeddings: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "embedding": list(embeddings)})
