"""How the served decision holds on real complaints: the default model + the default policy over
`dev_gold.csv` (511 real complaints labelled by careful reading with `../shared/LABELLING.md`).

    .venv/bin/python -m bench.real_quality [--model models/default] [--data PATH] [--policy FILE] [--json]

Every complaint goes through the whole decision (model + policy), as `triage replay` would decide it: one a day,
each from its own customer (so no repeat and no group alert colours the tier). The category is the
model's; the tier is the policy's (the tier model raised by the rules); a complaint is auto-routed when
the decision does not need review. Beside each figure: what a second careful reader agrees with
(92.5 % of categories and of tiers, LABELLING.md) and the target of issue 13.

The data is read by path and never copied into the project; without it the benchmark says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from triage.evaluation import routing_report, tier_report
from triage.policy import load_policy
from triage.schemas import ComplaintIn, Decision
from triage.service import TriageService

ROOT = Path(__file__).resolve().parents[1]
DEV_GOLD = ROOT.parent / "shared" / "datasets" / "celine" / "dev_gold.csv"
START = datetime.fromisoformat("2019-01-02T10:00:00+08:00")
CAREFUL_READER = {"category_accuracy": 0.925, "tier_accuracy": 0.925}
TARGETS = {
    "category_accuracy": (">=", 0.80),
    "category_macro_f1": (">=", 0.70),
    "auto_routed_share": (">=", 0.60),
    "auto_routed_accuracy": (">=", 0.90),
    "tier_accuracy": (">=", 0.80),
    "red_recall": (">=", 0.85),
    "red_precision": (">=", 0.50),
}


def read_gold(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"text", "category", "tier"} - set(frame.columns)
    if missing:
        raise SystemExit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame


def decide_all(service: TriageService, frame: pd.DataFrame, batch: int = 256) -> list[Decision]:
    ids = frame["gid"] if "gid" in frame.columns else pd.Series([f"row{i}" for i in range(len(frame))])
    complaints = [ComplaintIn(complaint_id=str(cid), customer_id=f"cust-{cid}", text=text,
                              received_at=START + timedelta(days=i))
                  for i, (cid, text) in enumerate(zip(ids, frame["text"], strict=True))]
    decisions: list[Decision] = []
    for start in range(0, len(complaints), batch):
        decisions.extend(service.triage(complaints[start:start + batch]))
    return decisions


def measure(service: TriageService, frame: pd.DataFrame) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    decisions = decide_all(service, frame)
    categories = np.asarray([d.category for d in decisions], dtype=object)
    tiers = [d.tier.label for d in decisions]
    gold = frame["category"].to_numpy(dtype=object)
    routing = routing_report(categories, [not d.needs_review for d in decisions], gold)
    tier = tier_report(tiers, frame["tier"].tolist())
    misses = [{"id": d.complaint_id, "gold": g, "tier": d.tier.label, "text": d.masked_text[:80]}
              for d, g in zip(decisions, frame["tier"], strict=True) if g == "red" and d.tier.label != "red"]
    return {
        "n": len(frame),
        "model_version": service.model.version_,
        "policy_version": service.policy.version,
        "category_accuracy": float(accuracy_score(gold, categories)),
        "category_macro_f1": float(f1_score(gold, categories, average="macro", zero_division=0)),
        **routing,
        "tier_accuracy": tier["accuracy"],
        "tier_macro_f1": tier["macro_f1"],
        "red_recall": tier["red_recall"],
        "red_precision": tier["red_precision"],
        "red_support": tier["red_support"],
        "tier_confusion": tier["confusion"],
        "missed_reds": misses,
    }


def table(result: dict) -> str:
    def fmt(key: str) -> str:
        value = result[key]
        return "—" if value is None else (f"{value:.1%}" if "share" in key else f"{value:.3f}")

    lines = [f"{result['n']} real complaints (dev_gold), model {result['model_version']}, "
             f"policy {result['policy_version']}", "",
             "| | measured | careful reader | target | |", "|---|---|---|---|---|"]
    for key, (_, target) in TARGETS.items():
        met = result[key] is not None and result[key] >= target
        reader = CAREFUL_READER.get(key)
        lines.append(f"| {key} | {fmt(key)} | {'' if reader is None else f'{reader:.3f}'} | ≥ {target} | "
                     f"{'met' if met else 'MISSED'} |")
    confusion = result["tier_confusion"]
    lines += ["", "tier confusion (rows: gold, columns: decided): " + " / ".join(confusion["labels"])]
    lines += [f"  {label:>6} {row}" for label, row in zip(confusion["labels"], confusion["matrix"], strict=True)]
    if result["missed_reds"]:
        lines += ["", "red complaints not decided red:"]
        lines += [f"  {m['id']} → {m['tier']}: {m['text']}" for m in result["missed_reds"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--data", type=Path, default=DEV_GOLD)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"no real data at {args.data}: nothing measured", file=sys.stderr)
        return 2
    from triage.models import TriageModel

    model = TriageModel.load(args.model)
    service = TriageService(model, load_policy(args.policy))
    result = measure(service, read_gold(args.data))
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
