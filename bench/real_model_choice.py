"""The shipped heads against the simplest baseline, in the same run, on celine's LLM labels (train → dev):
char 1–3-gram TF-IDF + logistic regression (C = 10) against the shipped head (the same features through
`triage.models.pipeline`: PII placeholders neutral, class weights balanced).

    .venv/bin/python -m bench.real_model_choice [--json] [--folds 5]

With `--folds K`, also K-fold cross-validation on train + dev together (stratified, seed 0), averaged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from training.audit import baseline_classifier
from triage.evaluation import classification_report
from triage.features.prepare import prepare_text
from triage.models.pipeline import as_frame, build_classifier, build_features

CELINE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "celine"


def _baseline(texts, labels):
    return baseline_classifier().fit(texts, labels)


class _ShippedHead:
    """The shipped category head: `build_features()` → `build_classifier()`, no embedding."""

    def __init__(self, texts, labels):
        self.features = build_features().fit(as_frame(list(texts), np.zeros((len(texts), 0))))
        self.head = build_classifier().fit(self._x(texts), labels)
        self.classes_ = self.head.classes_

    def _x(self, texts):
        return self.features.transform(as_frame(list(texts), np.zeros((len(texts), 0))))

    def predict_proba(self, texts):
        return self.head.predict_proba(self._x(texts))


MODELS = {"baseline char TF-IDF + LR (C=10)": _baseline, "shipped head": _ShippedHead}


def score(model, texts, y) -> dict:
    return classification_report(model.predict_proba(texts), np.asarray(y, dtype=object), model.classes_)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--folds", type=int, default=0, help="Also K-fold on train + dev (0: skip).")
    args = parser.parse_args(argv)
    if not (CELINE / "train.csv").exists():
        print(f"no celine data at {CELINE}", file=sys.stderr)
        return 2
    train, dev = pd.read_csv(CELINE / "train.csv"), pd.read_csv(CELINE / "dev.csv")
    x_train = [prepare_text(t).text for t in train["text"]]
    x_dev = [prepare_text(t).text for t in dev["text"]]
    y_dev = np.asarray(dev["category"], dtype=object)
    results = {name: score(fit(x_train, train["category"]), x_dev, y_dev) for name, fit in MODELS.items()}
    if args.folds:
        from sklearn.model_selection import StratifiedKFold

        texts = np.asarray(x_train + x_dev, dtype=object)
        labels = np.asarray(list(train["category"]) + list(dev["category"]), dtype=object)
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
        for name, fit in MODELS.items():
            reports = [score(fit(list(texts[a]), labels[a]), list(texts[b]), labels[b])
                       for a, b in folds.split(texts, labels)]
            results[f"{name}, {args.folds}-fold train+dev"] = {
                "macro_f1": float(np.mean([r["macro_f1"] for r in reports])),
                "accuracy": float(np.mean([r["accuracy"] for r in reports])),
                "coverage_accuracy": {"0.8": float(np.mean([r["coverage_accuracy"]["0.8"] for r in reports]))}}
    summary = {name: {"macro_f1": round(r["macro_f1"], 3), "accuracy": round(r["accuracy"], 3),
                      "accuracy_at_80": round(r["coverage_accuracy"]["0.8"], 3)} for name, r in results.items()}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        for name, r in summary.items():
            print(f"{name:<36} macro-F1 {r['macro_f1']:.3f}  accuracy {r['accuracy']:.3f}  "
                  f"accuracy@80% {r['accuracy_at_80']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
