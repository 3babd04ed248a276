"""Group complaints on real streams (issue 14): a real group complaint found early and whole, no alert on
unrelated complaints arriving together, and the corpus's bursts.

    .venv/bin/python -m bench.real_groups [--model models/default] [--policy FILE] [--seeds 5] [--json]
                                          [--datasets ../shared/datasets]

- tipdm (`../shared/datasets/tipdm/stream.csv`, 4,306 messages to a city's petition board): the whole
  stream through `triage replay`; for the known group complaint (`known_bursts.csv`, 伊景园滨河苑, 57
  messages): the position of its first message whose decision carries an alert from a cluster about it,
  the share of its messages in the alerted clusters about it, and their purity (its messages among their
  members); and every alerted cluster with its shared terms and size.
- 40 unrelated real complaints from 40 customers (`celine/dev_gold.csv`, `--seeds` random draws): alerted
  complaints with one `received_at`, with `received_at` spread over a month, and without `received_at` (the
  service's clock: what a backlog flush posts), each on an empty detector and after a background of the
  other dev_gold rows over the 60 days before.
- the project's corpus (`datasets/complaints.jsonl`): each burst's first alert, false alerts
  (`bench.replay_quality`).

The real data is read by path and never copied into the project; without it the benchmark says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.replay_quality import measure
from triage.policy import Policy, load_policy
from triage.replay import read_complaints, replay
from triage.schemas import ComplaintIn
from triage.service import TriageService

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
TIPDM = Path("tipdm") / "stream.csv"  # under --datasets
KNOWN_BURSTS = Path("tipdm") / "known_bursts.csv"
DEV_GOLD = Path("celine") / "dev_gold.csv"
CORPUS = ROOT / "datasets" / "complaints.jsonl"
UNRELATED = 40
START = datetime.fromisoformat("2021-03-01T09:00:00+08:00")


def _service(model, policy: Policy) -> TriageService:
    return TriageService(model, policy, TriageService.new_similarity(model, policy))


def tipdm(model, policy: Policy, out: Path, datasets: Path = DATASETS) -> dict:
    replay(_service(model, policy), read_complaints(datasets / TIPDM, policy), out)
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").open(encoding="utf-8")]
    clusters = json.loads((out / "clusters.json").read_text(encoding="utf-8"))
    burst = set(pd.read_csv(datasets / KNOWN_BURSTS, dtype=str)["complaint_id"])
    # A cluster is about the burst when most of its members are burst messages.
    about = [c for c in clusters if 2 * len(burst & set(c["members"])) > len(c["members"])]
    ids = {c["cluster_id"] for c in about} | {m for c in about for m in c["merged_from"]}
    members = {m for c in about for m in c["members"]}
    ordered = [d for d in decisions if d["complaint_id"] in burst]  # decisions.jsonl is in received_at order
    first = next((i for i, d in enumerate(ordered, 1)
                  if d["group"]["alert"] and d["group"]["cluster_id"] in ids), None)
    return {
        "messages": len(decisions),
        "burst": {"messages": len(burst), "first_alert_at_message": first,
                  "share_in_alerted_clusters": round(len(burst & members) / len(burst), 3),
                  "purity": round(len(burst & members) / max(len(members), 1), 3),
                  "alerted_clusters_about_it": sorted(ids & {c["cluster_id"] for c in clusters})},
        "alerted_clusters": [{"cluster_id": c["cluster_id"], "members": len(c["members"]),
                              "customers": c["peak_distinct_customers"], "first_alert_at": c["first_alert_at"],
                              "terms": [t["term"] for t in c.get("terms", [])],
                              "burst_members": len(burst & set(c["members"]))} for c in clusters],
    }


def unrelated(model, policy: Policy, seeds: int, datasets: Path = DATASETS) -> dict:
    gold = pd.read_csv(datasets / DEV_GOLD, dtype=str, keep_default_na=False)
    texts = gold["text"].tolist()
    predictions, vectors = model.predict_with_topics(texts)  # once: the draws differ in time and company only
    assert vectors is not None
    results: dict[str, list[int]] = {}
    for seed in range(seeds):
        chosen = np.random.default_rng(seed).choice(len(texts), UNRELATED, replace=False)
        rest = [i for i in range(len(texts)) if i not in set(chosen)]
        for timing in ("one_received_at", "over_a_month", "no_received_at"):
            for background in (False, True):
                service = _service(model, policy)
                end = datetime.now(policy.zone) - timedelta(hours=1) if timing == "no_received_at" else START
                if background:  # the other rows, one customer each, over the 60 days before
                    for n, i in enumerate(rest):
                        moment = end - timedelta(days=60) + timedelta(days=60) * n / len(rest)
                        service.decide(ComplaintIn(complaint_id=f"bg{i}", customer_id=f"bg{i}", text=texts[i],
                                                   received_at=moment), predictions[i], vectors[i])
                alerted = 0
                for n, i in enumerate(chosen):
                    at: datetime | None = {"one_received_at": START, "no_received_at": None,
                                           "over_a_month": START + timedelta(days=30) * n / UNRELATED}[timing]
                    decision = service.decide(ComplaintIn(complaint_id=f"u{i}", customer_id=f"u{i}", text=texts[i],
                                                          received_at=at), predictions[i], vectors[i])
                    alerted += decision.group.alert is not None
                key = f"{timing}{' after background' if background else ''}"
                results.setdefault(key, []).append(alerted)
    return {key: {"draws": len(counts), "draws_with_an_alert": sum(1 for c in counts if c),
                  "alerted_complaints": counts} for key, counts in results.items()}


def corpus(model, policy: Policy, out: Path) -> dict:
    replay(_service(model, policy), read_complaints(CORPUS, policy), out)
    groups = measure(out, CORPUS)["groups"]
    return {"bursts": {b: {"complaints": r["complaints"], "customers": r["customers"],
                           "alerted_at_complaint": r["alerted_at_complaint"], "in_alert": r["members_in_alert"],
                           "purity": r["alert_purity"]} for b, r in groups["bursts"].items()},
            "false_alerts": groups["false_alerts"]}


def report(result: dict) -> str:
    t, b = result["tipdm"], result["tipdm"]["burst"]
    lines = [f"tipdm stream ({t['messages']} messages), burst 伊景园滨河苑 ({b['messages']} messages): first alert at "
             f"message {b['first_alert_at_message']}, {b['share_in_alerted_clusters']:.0%} in the alerted "
             f"cluster(s) {', '.join(b['alerted_clusters_about_it'])}, purity {b['purity']:.0%}",
             f"alerted clusters: {len(t['alerted_clusters'])}"]
    lines += [f"  {c['cluster_id']}  {c['members']:>3} members  {c['customers']:>3} customers  "
              f"(burst {c['burst_members']:>2})  {c['first_alert_at'][:10]}  {' '.join(c['terms'])}"
              for c in t["alerted_clusters"]]
    lines += ["", f"{UNRELATED} unrelated dev_gold complaints from {UNRELATED} customers "
                  "(alerted complaints per draw):"]
    lines += [f"  {key:<35} {row['draws_with_an_alert']} of {row['draws']} draws alert  {row['alerted_complaints']}"
              for key, row in result["unrelated"].items()]
    lines += ["", "corpus bursts:"]
    lines += [f"  {name:<8} {r['complaints']:>2} complaints {r['customers']:>2} customers: alert at complaint "
              f"{r['alerted_at_complaint']}, {r['in_alert']} in the alert, purity {r['purity']}"
              for name, r in result["corpus"]["bursts"].items()]
    lines.append(f"  false alerts: {len(result['corpus']['false_alerts'])} {result['corpus']['false_alerts']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=5, help="random draws of the 40 unrelated complaints")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--datasets", type=Path, default=DATASETS, help="the shared datasets folder")
    args = parser.parse_args(argv)
    missing = [str(args.datasets / p) for p in (TIPDM, KNOWN_BURSTS, DEV_GOLD) if not (args.datasets / p).exists()]
    if missing:
        print(f"no real data at {', '.join(missing)}: nothing measured", file=sys.stderr)
        return 2
    from triage.models import TriageModel

    model = TriageModel.load(args.model)
    policy = load_policy(args.policy)
    with tempfile.TemporaryDirectory() as scratch:
        result = {"model_version": model.version_, "policy_version": policy.version,
                  "tipdm": tipdm(model, policy, Path(scratch) / "tipdm", args.datasets),
                  "unrelated": unrelated(model, policy, args.seeds, args.datasets),
                  "corpus": corpus(model, policy, Path(scratch) / "corpus")}
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
