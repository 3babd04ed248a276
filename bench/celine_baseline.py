"""The reference point of issue 3, measured in the same run as our model: char 1–3-gram TF-IDF +
logistic regression on celine train → dev, on the same normalised, masked text.

    python -m bench.celine_baseline [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from triage.data import read_table
from triage.evaluation import classification_report
from triage.features import prepare_text

CELINE = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "celine"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    train = read_table(CELINE / "train.csv", ["text", "category"])
    dev = read_table(CELINE / "dev.csv", ["text", "category"])
    x_train = [prepare_text(t).text for t in train["text"]]
    x_dev = [prepare_text(t).text for t in dev["text"]]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    results = {}
    for c in (1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=3000).fit(vectorizer.fit_transform(x_train), train["category"])
        probabilities = model.predict_proba(vectorizer.transform(x_dev))
        report = classification_report(probabilities, np.asarray(dev["category"], dtype=object), model.classes_)
        results[f"char_tfidf_lr_C{c:g}"] = {k: report[k] for k in ("macro_f1", "accuracy", "ece", "coverage_accuracy")}
    if args.json:
        print(json.dumps(results))
        return
    for name, r in results.items():
        print(f"{name}: macro-F1 {r['macro_f1']:.4f}  accuracy {r['accuracy']:.4f}  ECE {r['ece']:.4f}  "
              f"accuracy@80% {r['coverage_accuracy']['0.8']:.4f}")


if __name__ == "__main__":
    main()
