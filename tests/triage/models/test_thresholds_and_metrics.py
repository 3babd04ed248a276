"""Review thresholds and the metrics of a probabilistic classifier, on hand-built probabilities."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from triage.evaluation import (
    COVERAGE_LEVELS,
    classification_report,
    coverage_accuracy,
    expected_calibration_error,
)
from triage.models.thresholds import MIN_SUPPORT, below_threshold, choose_thresholds

CLASSES = np.array(["催收行为", "定价收费", "其他"])


def rows(label_index: int, confidences: list[float], n_classes: int = 3) -> np.ndarray:
    """Probability rows whose argmax is `label_index` with the given top confidences."""
    out = np.zeros((len(confidences), n_classes))
    for i, c in enumerate(confidences):
        rest = (1.0 - c) / (n_classes - 1)
        out[i, :] = rest
        out[i, label_index] = c
    return out


# --- choose_thresholds ------------------------------------------------------------------------------


@pytest.fixture
def threshold_case():
    # Class 0: six confident rows all right, then three low-confidence rows all wrong.
    p0 = rows(0, [0.97, 0.95, 0.93, 0.92, 0.91, 0.90, 0.55, 0.50, 0.45])
    y0 = ["催收行为"] * 6 + ["其他"] * 3
    # Class 1: ten rows, every other one wrong at every confidence: never 90 % precise.
    p1 = rows(1, [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90])
    y1 = ["定价收费", "其他"] * 5
    # Class 2: only MIN_SUPPORT - 1 rows, all right: too few to trust.
    p2 = rows(2, [0.99] * (MIN_SUPPORT - 1))
    y2 = ["其他"] * (MIN_SUPPORT - 1)
    probabilities = np.vstack([p0, p1, p2])
    y_true = np.array(y0 + y1 + y2)
    # Shuffle so the function cannot rely on the order it was given.
    order = np.random.default_rng(3).permutation(len(y_true))
    return probabilities[order], y_true[order]


def test_thresholds_admit_the_confident_right_rows(threshold_case):
    probabilities, y_true = threshold_case
    thresholds = choose_thresholds(probabilities, y_true, CLASSES, target_precision=0.9)
    assert set(thresholds) == {"催收行为", "定价收费", "其他"}
    assert thresholds["催收行为"] == pytest.approx(0.90)
    for confidence in (0.97, 0.95, 0.93, 0.92, 0.91, 0.90):
        assert not below_threshold("催收行为", confidence, thresholds)
    for confidence in (0.55, 0.50, 0.45):
        assert below_threshold("催收行为", confidence, thresholds)


def test_class_never_precise_enough_gets_none(threshold_case):
    probabilities, y_true = threshold_case
    thresholds = choose_thresholds(probabilities, y_true, CLASSES, target_precision=0.9)
    assert thresholds["定价收费"] is None
    assert below_threshold("定价收费", 0.999, thresholds)


def test_too_few_rows_give_none(threshold_case):
    probabilities, y_true = threshold_case
    thresholds = choose_thresholds(probabilities, y_true, CLASSES, target_precision=0.9)
    assert thresholds["其他"] is None
    # One more right row reaches MIN_SUPPORT, and the class gets a threshold.
    more = np.vstack([probabilities, rows(2, [0.99])])
    thresholds = choose_thresholds(more, np.append(y_true, "其他"), CLASSES, target_precision=0.9)
    assert thresholds["其他"] == pytest.approx(0.99)


def test_lower_target_admits_more_rows(threshold_case):
    probabilities, y_true = threshold_case
    thresholds = choose_thresholds(probabilities, y_true, CLASSES, target_precision=0.5)
    assert thresholds["催收行为"] == pytest.approx(0.45)  # 6 of 9 right = 0.67 >= 0.5
    assert thresholds["定价收费"] == pytest.approx(0.90)  # 5 of 10 right = 0.5 >= 0.5


def test_tied_confidences_go_in_or_out_together():
    # Seven right rows at 0.95, then a right and a wrong row tied at 0.70: admitting the right one
    # alone would look 100 % precise, but a threshold cannot split a tie; together they give 8/9 < 0.9.
    probabilities = rows(0, [0.95] * 7 + [0.70, 0.70])
    y_true = np.array(["催收行为"] * 8 + ["其他"])
    thresholds = choose_thresholds(probabilities, y_true, CLASSES, target_precision=0.9)
    assert thresholds["催收行为"] == pytest.approx(0.95)


def test_class_never_predicted_gets_none():
    probabilities = rows(0, [0.9] * 6)
    thresholds = choose_thresholds(probabilities, np.array(["催收行为"] * 6), CLASSES)
    assert thresholds["定价收费"] is None and thresholds["其他"] is None
    assert thresholds["催收行为"] == pytest.approx(0.9)


def test_below_threshold():
    thresholds = {"a": 0.8, "b": None}
    assert below_threshold("a", 0.79, thresholds)
    assert not below_threshold("a", 0.8, thresholds)  # exactly at the threshold is admitted
    assert not below_threshold("a", 0.95, thresholds)
    assert below_threshold("b", 1.0, thresholds)  # None: always reviewed
    assert below_threshold("unknown", 1.0, thresholds)  # a class without a threshold is reviewed


# --- expected_calibration_error ---------------------------------------------------------------------


def test_ece_by_hand_on_a_tiny_example():
    # Bin (0.9, 1.0]: confidences 0.95, 0.95; one right  -> |0.5 - 0.95| = 0.45, weight 2/4
    # Bin (0.6, 0.7]: confidences 0.65, 0.65; both right -> |1.0 - 0.65| = 0.35, weight 2/4
    # ECE = 0.5 * 0.45 + 0.5 * 0.35 = 0.40
    classes = np.array(["a", "b"])
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.35, 0.65], [0.35, 0.65]])
    y_true = np.array(["a", "b", "b", "b"])
    assert expected_calibration_error(probabilities, y_true, classes) == pytest.approx(0.40)


def test_ece_of_a_perfectly_calibrated_case_is_zero():
    # In every bin the accuracy equals the confidence exactly.
    groups = [(1.0, 4, 4), (0.9, 10, 9), (0.75, 8, 6), (0.6, 5, 3)]
    probabilities, y_true = [], []
    for confidence, n, n_right in groups:
        probabilities.append(rows(0, [confidence] * n))
        y_true += ["催收行为"] * n_right + ["其他"] * (n - n_right)
    probabilities = np.vstack(probabilities)
    ece = expected_calibration_error(probabilities, np.array(y_true), CLASSES)
    assert ece == pytest.approx(0.0, abs=1e-9)


def test_ece_of_a_large_random_calibrated_sample_is_small():
    # Each row is right with probability equal to its confidence.
    rng = np.random.default_rng(0)
    n = 20_000
    confidence = rng.uniform(0.5, 1.0, n)
    probabilities = np.column_stack([confidence, 1 - confidence, np.zeros(n)])
    y_true = np.where(rng.uniform(size=n) < confidence, CLASSES[0], CLASSES[1])
    assert expected_calibration_error(probabilities, y_true, CLASSES) < 0.02


def test_ece_of_an_overconfident_model_is_large():
    probabilities = rows(0, [0.95] * 100)
    y_true = np.array(["催收行为"] * 50 + ["定价收费"] * 50)
    ece = expected_calibration_error(probabilities, y_true, CLASSES)
    assert ece > 0.2
    assert ece == pytest.approx(0.45)


# --- coverage_accuracy -------------------------------------------------------------------------------


def test_coverage_accuracy_keys_values_and_monotone():
    # 20 rows; by falling confidence the correctness is: ten right, then 1 1 0 1 | 1 0 | 0 1 | 0 0.
    correct = [1] * 10 + [1, 1, 0, 1] + [1, 0] + [0, 1] + [0, 0]
    confidences = np.linspace(0.99, 0.40, 20)
    probabilities = rows(0, list(confidences))
    y_true = np.array(["催收行为" if c else "其他" for c in correct])
    order = np.random.default_rng(1).permutation(20)
    result = coverage_accuracy(probabilities[order], y_true[order], CLASSES)
    assert tuple(result) == COVERAGE_LEVELS == ("0.5", "0.7", "0.8", "0.9", "1.0")
    expected = {"0.5": 1.0, "0.7": 13 / 14, "0.8": 14 / 16, "0.9": 15 / 18, "1.0": 15 / 20}
    assert result == pytest.approx(expected)
    values = [result[level] for level in COVERAGE_LEVELS]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert result["1.0"] == pytest.approx(np.mean(correct))


# --- classification_report ----------------------------------------------------------------------------


def test_classification_report_keys_and_values():
    probabilities = np.vstack([rows(0, [0.9, 0.8, 0.7]), rows(1, [0.9, 0.6]), rows(2, [0.95])])
    y_true = np.array(["催收行为", "催收行为", "定价收费", "定价收费", "定价收费", "其他"])
    report = classification_report(probabilities, y_true, CLASSES)
    assert set(report) == {"n", "macro_f1", "accuracy", "ece", "coverage_accuracy", "per_class"}
    assert report["n"] == 6
    assert report["accuracy"] == pytest.approx(5 / 6)
    assert set(report["coverage_accuracy"]) == set(COVERAGE_LEVELS)
    assert set(report["per_class"]) == {"催收行为", "定价收费", "其他"}
    for stats in report["per_class"].values():
        assert set(stats) == {"precision", "recall", "f1", "support"}
    collection = report["per_class"]["催收行为"]
    assert collection["precision"] == pytest.approx(2 / 3)
    assert collection["recall"] == pytest.approx(1.0)
    assert collection["support"] == 2
    fees = report["per_class"]["定价收费"]
    assert fees["precision"] == pytest.approx(1.0) and fees["recall"] == pytest.approx(2 / 3)
    assert sum(s["support"] for s in report["per_class"].values()) == 6
    f1s = [s["f1"] for s in report["per_class"].values()]
    assert report["macro_f1"] == pytest.approx(np.mean(f1s))
    assert 0.0 <= report["ece"] <= 1.0
