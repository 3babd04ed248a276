"""The scikit-learn pipeline behind each head (category, tier).

Input is a DataFrame with a `text` column (normalised, masked) and an `embedding` column (one vector
per row). The embedding is computed once per complaint outside the pipeline, so the classifier and
the similarity layer share it, and so a clone or a grid search never re-embeds.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from triage.features.pii import BANK_CARD_MASK, EMAIL_MASK, ID_CARD_MASK, PHONE_MASK
from triage.features.tokenizer import tokenize

# What a masked number was (an ID card, a phone) says nothing about the grievance, but its characters
# (身份证, 手机) pull a fee complaint towards information safety: the n-grams see one neutral mark instead.
_MASKS = re.compile("|".join(re.escape(m) for m in (BANK_CARD_MASK, EMAIL_MASK, ID_CARD_MASK, PHONE_MASK)))


def without_masks(text: str) -> str:
    """The text the n-gram vectorisers read: every PII placeholder becomes one neutral mark (module level,
    so fitted vectorisers pickle)."""
    return _MASKS.sub("〇", text)


class ComplaintFeatures(BaseEstimator, TransformerMixin):
    """char n-gram TF-IDF, optionally jieba word TF-IDF and the sentence embedding, side by side (sparse).

    The embedding is scaled by `embedding_weight` so its dense dimensions neither drown nor vanish beside
    the sparse TF-IDF blocks. (A ColumnTransformer does the same job, at ~2 ms more per call in
    bookkeeping — as much as the vectorisers themselves.)

    Parameters
    ----------
    char_ngram_range : (int, int)
        Character n-gram lengths.
    word_ngram_range : (int, int) or None
        Jieba word n-gram lengths; None (default): no word block.
    min_df : int
        Minimum document frequency of an n-gram.
    embedding_weight : float
        Scale of the embedding block (ignored when the embedding has no dimensions).

    Attributes
    ----------
    char_ : TfidfVectorizer
        The fitted character vectoriser (PII placeholders read as one neutral mark).
    word_ : TfidfVectorizer or None
        The fitted word vectoriser, when `word_ngram_range` is set.
    """

    def __init__(
        self,
        char_ngram_range: tuple[int, int] = (1, 3),
        word_ngram_range: tuple[int, int] | None = None,
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
                                     sublinear_tf=True, preprocessor=without_masks).fit(texts)
        # Jieba words did not add to char n-grams on real complaints (BENCHMARKS.md): off by default.
        self.word_ = None if self.word_ngram_range is None else TfidfVectorizer(
            tokenizer=tokenize, token_pattern=None, lowercase=False, ngram_range=self.word_ngram_range,
            min_df=self.min_df, sublinear_tf=True).fit(texts)
        return self

    def transform(self, X: pd.DataFrame) -> sp.csr_matrix:
        texts = list(X["text"])
        blocks = [self.char_.transform(texts)]
        word = getattr(self, "word_", None)
        if word is not None:
            blocks.append(word.transform(texts))
        embedding = np.vstack(list(X["embedding"])).astype(np.float64) * self.embedding_weight
        if embedding.shape[1]:
            blocks.append(sp.csr_matrix(embedding))
        return sp.hstack(blocks, format="csr")


def build_features(
    *,
    char_ngram_range: tuple[int, int] = (1, 3),
    word_ngram_range: tuple[int, int] | None = None,
    min_df: int = 2,
    embedding_weight: float = 0.5,
) -> ComplaintFeatures:
    return ComplaintFeatures(char_ngram_range, word_ngram_range, min_df, embedding_weight)


def build_classifier(
    *,
    kind: str = "logistic",
    C: float = 10.0,
    class_weight: str | None = "balanced",
    calibration: str = "isotonic",
    calibration_cv: int = 5,
    ensemble: bool = True,
    max_iter: int = 3000,
) -> LogisticRegression | CalibratedClassifierCV:
    """The head: multinomial logistic regression (default), or a linear SVM with calibrated probabilities
    averaged over `calibration_cv` folds (`kind="svm"`; the calibration parameters apply to it alone).

    Logistic regression is the default: on real complaints char n-grams + logistic regression were as good as
    anything tried beside them (BENCHMARKS.md, "Real complaints: the whole decision on dev_gold.csv"), and a
    logistic head is one matrix product where the SVM ensemble is five, each with its calibrators."""
    if kind == "logistic":
        return LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter)
    if kind == "svm":
        return CalibratedClassifierCV(LinearSVC(C=C, class_weight=class_weight), method=calibration,
                                      cv=calibration_cv, ensemble=ensemble)
    raise ValueError(f"unknown classifier kind {kind!r}: 'logistic' or 'svm'")


def build_text_classifier(feature_params: dict | None = None, classifier_params: dict | None = None) -> Pipeline:
    """features → calibrated linear SVM, as one clonable, grid-searchable pipeline."""
    return Pipeline([("features", build_features(**(feature_params or {}))),
                     ("classifier", build_classifier(**(classifier_params or {})))])


def as_frame(texts: list[str], embeddings: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "embedding": list(embeddings)})
