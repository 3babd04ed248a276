"""The shipped heads against the simplest baseline, in the same run, on celine's LLM labels (train → dev):
char 1–3-gram TF-IDF + logistic regression (C = 10) against the shipped head (the same features through
`triage.models.pipeline`: PII placeholders neutral, class weights balanced).

    .venv/bin/python -m bench.real_model_choice [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from triage.evaluation import classification_report
from triage.features.prepare import prepare_text
from triage.models.pipeline import as_frame, build_classifier, build_features

CELINE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "celine"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (CELINE / "train.csv").exists():
        print(f"no celine data at {CELINE}", file=sys.stderr)
        return 2
    train, dev = pd.read_csv(CELINE / "train.csv"), pd.read_csv(CELINE / "dev.csv")
    x_train = [prepare_text(t).text for t in train["text"]]
    x_dev = [prepare_text(t).text for t in dev["text"]]
    y_dev = np.asarray(dev["category"], dtype=object)
    results = {}
    baseline = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
                             LogisticRegression(C=10, max_iter=3000)).fit(x_train, train["category"])
    results["baseline char TF-IDF + LR (C=10)"] = classification_report(
        baseline.predict_proba(x_dev), y_dev, baseline.classes_)
    features = build_features().fit(as_frame(x_train, np.zeros((len(x_train), 0))))
    head = build_classifier().fit(features.transform(as_frame(x_train, np.zeros((len(x_train), 0)))),
                                  train["category"])
    results["shipped head"] = classification_report(
        head.predict_proba(features.transform(as_frame(x_dev, np.zeros((len(x_dev), 0))))), y_dev, head.classes_)
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
