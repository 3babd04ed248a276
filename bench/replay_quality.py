"""How well `triage replay` finds the corpus's repeat series and group bursts.

    .venv/bin/triage replay --data datasets/complaints.jsonl --out /tmp/replay
    .venv/bin/python -m bench.replay_quality --replay /tmp/replay [--data datasets/complaints.jsonl] [--json]

Repeat flags are scored against `series_seq` (a later complaint of a series is a repeat), new facts
against `new_facts`, and each `burst_id` by the position, within the burst, of the first complaint whose
decision carries an alert from a cluster about that burst (at least three of its complaints, and at least a
third of the cluster's members; `alert_purity` gives the burst's share of the cluster). An alerting cluster
about no burst is a false alert.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd


def measure(replay_dir: Path, data: Path) -> dict:
    truth = pd.read_json(data, lines=True, dtype={"complaint_id": str, "customer_id": str})
    truth = truth.set_index("complaint_id")
    decisions = [json.loads(line) for line in (replay_dir / "decisions.jsonl").open(encoding="utf-8")]
    clusters = json.loads((replay_dir / "clusters.json").read_text(encoding="utf-8"))

    # ---- repeats
    flagged = {d["complaint_id"] for d in decisions if d["repeat"]["is_repeat"]}
    actual = set(truth.index[truth["series_seq"].fillna(0) >= 2])
    true_positive = flagged & actual
    count_right = sum(1 for d in decisions if d["complaint_id"] in actual
                      and d["repeat"]["repeat_count"] == int(truth.at[d["complaint_id"], "series_seq"]))
    facts_right = sum(1 for d in decisions if d["complaint_id"] in true_positive
                      and bool(d["repeat"]["new_facts"]) == bool(truth.at[d["complaint_id"], "new_facts"]))
    repeat = {
        "flagged": len(flagged), "actual": len(actual),
        "precision": round(len(true_positive) / max(len(flagged), 1), 3),
        "recall": round(len(true_positive) / max(len(actual), 1), 3),
        "repeat_count_exact": round(count_right / max(len(actual), 1), 3),
        "new_facts_agreement": round(facts_right / max(len(true_positive), 1), 3),
        "false_repeats": sorted(flagged - actual),
        "missed_repeats": sorted(actual - flagged),
    }

    # ---- groups
    burst_of = truth["burst_id"].dropna().to_dict()
    cluster_burst: dict[str, str | None] = {}
    purity = {}
    for cluster in clusters:
        counts = Counter(burst_of[m] for m in cluster["members"] if m in burst_of)
        top, n = counts.most_common(1)[0] if counts else (None, 0)
        # About a burst: at least three of its complaints, and at least a third of the cluster.
        about = top if n >= 3 and n * 3 >= len(cluster["members"]) else None
        cluster_burst[cluster["cluster_id"]] = about
        if about is not None:
            purity[cluster["cluster_id"]] = round(n / len(cluster["members"]), 2)
    bursts = {}
    for burst in sorted(set(burst_of.values())):
        members = [d for d in decisions if burst_of.get(d["complaint_id"]) == burst]
        position = next((i + 1 for i, d in enumerate(members)
                         if d["group"]["alert"] and cluster_burst.get(d["group"]["cluster_id"]) == burst), None)
        alerting = [c for c, about in cluster_burst.items() if about == burst]
        caught = {m for c in clusters if c["cluster_id"] in alerting for m in c["members"]}
        bursts[burst] = {"complaints": len(members), "customers": len({d["customer_id"] for d in members}),
                         "alerted_at_complaint": position,
                         "members_in_alert": sum(1 for d in members if d["complaint_id"] in caught),
                         "alert_purity": [purity[c] for c in alerting]}
    false_alerts = [c["cluster_id"] for c in clusters if cluster_burst[c["cluster_id"]] is None]
    outside = sum(1 for d in decisions if d["complaint_id"] not in burst_of)
    groups = {"bursts": bursts, "false_alerts": false_alerts, "complaints_outside_bursts": outside,
              "false_alerts_per_1000": round(1000 * len(false_alerts) / max(outside, 1), 2)}
    return {"repeat": repeat, "groups": groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replay", type=Path, required=True, help="the --out directory of `triage replay`")
    parser.add_argument("--data", type=Path, default=Path("datasets/complaints.jsonl"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.replay, args.data)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    r = result["repeat"]
    print(f"repeats: precision {r['precision']}  recall {r['recall']}  ({r['flagged']} flagged, {r['actual']} actual); "
          f"repeat_count exact {r['repeat_count_exact']}; new-facts agreement {r['new_facts_agreement']}")
    if r["false_repeats"] or r["missed_repeats"]:
        print(f"  false: {r['false_repeats']}\n  missed: {r['missed_repeats']}")
    g = result["groups"]
    for burst, row in g["bursts"].items():
        print(f"  burst {burst:<8} {row['complaints']:>3} complaints, {row['customers']:>3} customers: "
              f"alert at complaint {row['alerted_at_complaint']}, {row['members_in_alert']} in the alerting "
              f"cluster, purity {row['alert_purity']}")
    print(f"false group alerts: {len(g['false_alerts'])} {g['false_alerts']} "
          f"({g['false_alerts_per_1000']} per 1,000 of {g['complaints_outside_bursts']} complaints outside bursts)")


if __name__ == "__main__":
    main()
