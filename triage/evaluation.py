"""Metrics for a probabilistic classifier: quality, calibration, and accuracy by confidence."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

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
