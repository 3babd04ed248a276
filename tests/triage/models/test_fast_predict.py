"""The compiled predictors must give scikit-learn's probabilities, to the last bit."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from triage.models.fast_predict import CompiledCalibratedClassifier


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("n_classes", [2, 3, 6])
@pytest.mark.parametrize("ensemble", [True, False])
def test_matches_scikit_learn(method, n_classes, ensemble):
    X, y = make_classification(n_samples=400, n_features=30, n_informative=12, n_classes=n_classes,
                               random_state=n_classes)
    labels = np.array([f"类{k}" for k in range(n_classes)], dtype=object)[y]
    fitted = CalibratedClassifierCV(LinearSVC(C=0.1), method=method, cv=5, ensemble=ensemble).fit(X, labels)
    compiled = CompiledCalibratedClassifier(fitted)
    assert compiled._plan is not None  # the fast path is taken, not the fallback
    X_sparse = sp.csr_matrix(X[:50])
    expected = fitted.predict_proba(X_sparse)
    got = compiled.predict_proba(X_sparse)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert list(compiled.classes_) == list(fitted.classes_)


def test_scores_outside_the_calibration_range_are_clipped_like_scikit_learn():
    X, y = make_classification(n_samples=300, n_features=10, n_classes=3, n_informative=5, random_state=0)
    fitted = CalibratedClassifierCV(LinearSVC(), method="isotonic", cv=3).fit(X, y)
    extreme = np.vstack([X[:5] * 1000, X[:5] * -1000])
    np.testing.assert_allclose(CompiledCalibratedClassifier(fitted).predict_proba(extreme),
                               fitted.predict_proba(extreme), rtol=0, atol=1e-12)


def test_unsupported_calibration_falls_back_to_scikit_learn():
    X, y = make_classification(n_samples=300, n_features=10, n_classes=3, n_informative=5, random_state=1)
    fitted = CalibratedClassifierCV(LinearSVC(), method="temperature", cv=3).fit(X, y)
    compiled = CompiledCalibratedClassifier(fitted)
    assert compiled._plan is None
    np.testing.assert_array_equal(compiled.predict_proba(X[:7]), fitted.predict_proba(X[:7]))


@pytest.mark.parametrize("n_classes", [2, 3, 9])
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_logistic_head_matches_scikit_learn(n_classes, class_weight):
    X, y = make_classification(n_samples=400, n_features=30, n_informative=12, n_classes=n_classes,
                               random_state=n_classes)
    labels = np.array([f"类{k}" for k in range(n_classes)], dtype=object)[y]
    fitted = LogisticRegression(C=10, class_weight=class_weight, max_iter=3000).fit(sp.csr_matrix(X), labels)
    compiled = CompiledCalibratedClassifier(fitted)
    assert compiled._plan is not None
    for rows in (sp.csr_matrix(X[:50]), sp.csr_matrix(X[:1]), sp.csr_matrix(X[:50] * 100)):
        np.testing.assert_allclose(compiled.predict_proba(rows), fitted.predict_proba(rows), rtol=0, atol=1e-12)
