"""Label-noise audit: which rows of a labelled file are most likely mislabelled, and what they probably are.

Confident learning (cleanlab) over out-of-fold probabilities: every row is scored by a model that never saw
it, and cleanlab ranks the rows whose given label the out-of-fold evidence contradicts most. The audit's
classifier is the char 1–3-gram TF-IDF + logistic regression baseline — fast, and it needs no embedding:
the audit is about the labels, not about the shipped model.

    triage audit --data ../shared/datasets/celine/train.csv --label-column category --out audit.csv
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from triage.features.prepare import prepare_text


@dataclass(frozen=True)
class AuditResult:
    """Rows flagged as likely mislabelled, most suspect first (`issues`), and every row's label quality."""

    issues: pd.DataFrame  # row, label, suggested, suggested_probability, label_probability, quality, text
    quality: np.ndarray
    classes: np.ndarray
    n_rows: int


def baseline_classifier():
    """char 1–3-gram TF-IDF + logistic regression (C = 10): the simplest strong text classifier, the audit's
    model and the reference the shipped model is held against (`bench.real_model_choice`)."""
    return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
                         LogisticRegression(C=10, max_iter=3000))


def out_of_fold_probabilities(texts: Sequence[str], labels: Sequence[str], cv: int = 5,
                              random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each row's class probabilities from a model fitted on the other folds; returns (probabilities, classes)."""
    y = np.asarray(labels, dtype=object)
    classes = np.unique(y)
    smallest = int(min((y == c).sum() for c in classes))
    if smallest < 2:
        raise ValueError(f"every label needs at least 2 rows for cross-validation; "
                         f"{[str(c) for c in classes if (y == c).sum() < 2]} have fewer")
    folds = StratifiedKFold(min(cv, smallest), shuffle=True, random_state=random_state)
    probabilities = cross_val_predict(baseline_classifier(), list(texts), y, cv=folds, method="predict_proba")
    return probabilities, classes


def audit_labels(texts: Sequence[str], labels: Sequence[str], cv: int = 5, random_state: int = 0) -> AuditResult:
    """Rank the rows whose label is likely wrong (cleanlab's confident learning), with the suggested label."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    clean = [prepare_text(t).text for t in texts]
    probabilities, classes = out_of_fold_probabilities(clean, labels, cv, random_state)
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[label] for label in labels])
    ranked = find_label_issues(y, probabilities, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(y, probabilities, method="self_confidence")
    suggested = probabilities.argmax(axis=1)
    issues = pd.DataFrame({
        "row": ranked,
        "label": classes[y[ranked]],
        "suggested": classes[suggested[ranked]],
        "suggested_probability": probabilities[ranked, suggested[ranked]].round(3),
        "label_probability": probabilities[ranked, y[ranked]].round(3),
        "quality": quality[ranked].round(3),
        "text": [clean[i] for i in ranked],
    })
    return AuditResult(issues=issues, quality=quality, classes=classes, n_rows=len(labels))
