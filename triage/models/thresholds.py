"""Per-class confidence thresholds: the lowest confidence at which a predicted class is still right
at least `target_precision` of the time on held-out rows. Below it, a person reviews the prediction."""

from __future__ import annotations

import numpy as np

MIN_SUPPORT = 5  # fewer confident rows than this say nothing reliable about precision


def choose_thresholds(
    probabilities: np.ndarray, y_true: np.ndarray, classes: np.ndarray, target_precision: float = 0.9
) -> dict[str, float | None]:
    """Return {class: threshold}; None where no confidence reaches the target (always reviewed)."""
    predicted = classes[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    thresholds: dict[str, float | None] = {}
    for label in classes:
        mask = predicted == label
        order = np.argsort(-confidence[mask], kind="stable")
        conf = confidence[mask][order]
        correct = (y_true[mask][order] == label).astype(float)
        precision = np.cumsum(correct) / np.arange(1, len(correct) + 1)
        # Cut only between distinct confidences: rows that tie go in or out together.
        ok = [i for i in range(MIN_SUPPORT - 1, len(conf))
              if precision[i] >= target_precision and (i + 1 == len(conf) or conf[i + 1] < conf[i])]
        thresholds[str(label)] = float(conf[ok[-1]]) if ok else None
    return thresholds


def below_threshold(label: str, confidence: float, thresholds: dict[str, float | None]) -> bool:
    threshold = thresholds.get(label)
    return threshold is None or confidence < threshold
