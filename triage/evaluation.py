"""Metrics for a probabilistic classifier: quality, calibration, and accuracy by confidence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from triage.vocabulary import TIERS

COVERAGE_LEVELS = ("0.5", "0.7", "0.8", "0.9", "1.0")


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, classes: np.ndarray,
                               bins: int = 10) -> float:
    """ECE over `bins` equal-width bins of the top-class confidence."""
    confidence = probabilities.max(axis=1)
    correct = classes[probabilities.argmax(axis=1)] == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = index == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def coverage_accuracy(probabilities: np.ndarray, y_true: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Accuracy on the most confident share of rows, for each share in COVERAGE_LEVELS."""
    order = np.argsort(-probabilities.max(axis=1), kind="stable")
    correct = (classes[probabilities.argmax(axis=1)] == y_true)[order]
    result = {}
    for level in COVERAGE_LEVELS:
        n = max(1, round(float(level) * len(correct)))
        result[level] = float(correct[:n].mean())
    return result


def classification_report(probabilities: np.ndarray, y_true: np.ndarray, classes: np.ndarray) -> dict:
    y_true = np.asarray(y_true)
    predicted = classes[probabilities.argmax(axis=1)]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, predicted, labels=classes, zero_division=0
    )
    return {
        "n": len(y_true),
        "macro_f1": float(f1_score(y_true, predicted, labels=classes, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "ece": expected_calibration_error(probabilities, y_true, classes),
        "coverage_accuracy": coverage_accuracy(probabilities, y_true, classes),
        "per_class": {
            str(label): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
        },
    }


def tier_report(predicted: Sequence[str], y_true: Sequence[str], tiers: Sequence[str] = TIERS) -> dict:
    """Tier quality: accuracy, macro-F1, red recall and precision, the confusion matrix (rows: true tier,
    columns: predicted, in `tiers` order). Red is reported on its own because missing one is the costly
    error: a bank must never leave a red complaint in a four-day queue."""
    decided, gold = np.asarray(predicted, dtype=object), np.asarray(y_true, dtype=object)
    labels = list(tiers)
    precision, recall, _, support = precision_recall_fscore_support(gold, decided, labels=labels,
                                                                     zero_division=0)
    red = labels.index("red") if "red" in labels else None
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, decided)),
        "macro_f1": float(f1_score(gold, decided, labels=labels, average="macro", zero_division=0)),
        "red_recall": None if red is None or not support[red] else float(recall[red]),
        "red_precision": None if red is None or not (decided == "red").any() else float(precision[red]),
        "red_support": None if red is None else int(support[red]),
        "confusion": {"labels": labels,
                      "matrix": confusion_matrix(gold, decided, labels=labels).tolist()},
    }


def routing_report(categories: Sequence[str], auto_routed: Sequence[bool], y_true: Sequence[str]) -> dict:
    """Of the decisions the review thresholds let through without a person, how many and how right."""
    decided, gold = np.asarray(categories, dtype=object), np.asarray(y_true, dtype=object)
    auto = np.asarray(auto_routed, dtype=bool)
    return {
        "auto_routed_share": float(auto.mean()) if len(auto) else 0.0,
        "auto_routed_accuracy": float((decided[auto] == gold[auto]).mean()) if auto.any() else None,
        "review_share": float(1 - auto.mean()) if len(auto) else 0.0,
    }
