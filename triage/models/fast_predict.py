"""A fast path for the heads' `predict_proba` on one or a few rows: `CalibratedClassifierCV(LinearSVC, ...)`
and `LogisticRegression`.

scikit-learn evaluates every fold's SVM and every class's calibrator as separate estimator calls, each
re-validating its input: for 5 folds × 9 classes that is ~50 calls and a few milliseconds per
complaint, more than the sentence embedding. Here the fold SVMs are stacked into one matrix product
and the calibrators evaluated with `np.interp` / the logistic function — the same arithmetic
(tests compare with scikit-learn's own output). Anything unexpected falls back to scikit-learn.

A logistic head is one matrix product already, but scikit-learn 1.9 validates its input on every call
(dataframe-library checks included): ~0.6 ms of a ~30 ms decision was that check alone (cProfile, 300
decisions). Here it is the product and the softmax (or the logistic function for two classes).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


class CompiledCalibratedClassifier:
    def __init__(self, fitted):
        self.fitted = fitted
        self.classes_ = fitted.classes_
        self._plan = self._compile(fitted)

    @staticmethod
    def _compile(fitted) -> dict | None:
        if isinstance(fitted, LogisticRegression):
            return {"logistic": True, "coef": np.asarray(fitted.coef_, dtype=np.float64).T,
                    "intercept": np.asarray(fitted.intercept_, dtype=np.float64)}
        if not isinstance(fitted, CalibratedClassifierCV):
            return None
        n_classes = len(fitted.classes_)
        if fitted.method not in ("isotonic", "sigmoid"):
            return None
        coefs, intercepts, curves = [], [], []
        for member in fitted.calibrated_classifiers_:
            svm = member.estimator
            if not hasattr(svm, "coef_") or list(svm.classes_) != list(fitted.classes_):
                return None  # a fold missing a class: leave it to scikit-learn
            coefs.append(np.atleast_2d(svm.coef_))
            intercepts.append(np.atleast_1d(svm.intercept_))
            fold_curves = []
            for calibrator in member.calibrators:
                if isinstance(calibrator, IsotonicRegression):
                    if calibrator.out_of_bounds != "clip" or not calibrator.increasing_:
                        return None
                    fold_curves.append(("iso", calibrator.X_thresholds_, calibrator.y_thresholds_))
                elif hasattr(calibrator, "a_"):
                    fold_curves.append(("sig", float(calibrator.a_), float(calibrator.b_)))
                else:
                    return None
            curves.append(fold_curves)
        return {"coef": np.vstack(coefs).T.astype(np.float64), "intercept": np.concatenate(intercepts),
                "curves": curves, "n_classes": n_classes, "binary": n_classes == 2}

    def predict_proba(self, X) -> np.ndarray:
        plan = self._plan
        if plan is None:
            return self.fitted.predict_proba(X)
        if "logistic" in plan:
            decision = np.asarray(X @ plan["coef"]) + plan["intercept"]
            if decision.shape[1] == 1:  # two classes: scikit-learn's logistic of the one decision function
                positive = expit(decision[:, 0])
                return np.column_stack([1.0 - positive, positive])
            return softmax(decision, axis=1)
        scores = np.asarray(X @ plan["coef"]) + plan["intercept"]  # (n, folds × columns)
        n, n_classes = scores.shape[0], plan["n_classes"]
        total = np.zeros((n, n_classes))
        column = 0
        for fold_curves in plan["curves"]:
            proba = np.zeros((n, n_classes))
            for k, curve in enumerate(fold_curves):
                target = 1 if plan["binary"] else k
                if curve[0] == "iso":
                    proba[:, target] = np.interp(scores[:, column], curve[1], curve[2])
                else:
                    proba[:, target] = expit(-(curve[1] * scores[:, column] + curve[2]))
                column += 1
            if plan["binary"]:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                denominator = proba.sum(axis=1, keepdims=True)
                proba = np.divide(proba, denominator, out=np.full_like(proba, 1 / n_classes),
                                  where=denominator != 0)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            total += proba
        return total / len(plan["curves"])
