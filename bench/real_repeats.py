"""Repeat complaints on a real stream: is a repeat flagged when, and only when, the same customer comes back
on the same matter, and does it bring new facts?

    .venv/bin/python -m bench.real_repeats [--model models/default] [--policy FILE] [--json]
    .venv/bin/python -m bench.real_repeats --replay /tmp/r17/run1 [--corpus-replay /tmp/replay]   # score runs

The tipdm stream (`../shared/datasets/tipdm/stream.csv`, 4,306 petition-board messages) goes through the
whole decision in time order, as `triage replay` decides it, and is scored against `repeat_labels.csv`
(728 messages of 262 posters, labelled by careful reading: `repeat_of` the first message of the same
concrete matter — same place, project, company, dispute, not the same topic — and whether a repeat brings
new facts). Then the project's corpus (`datasets/complaints.jsonl`, its repeat series) the same way, with
`bench.replay_quality`. A held-out half of the posters is scored outside the project with the same targets.

Figures: repeat precision and recall (a flag on a labelled message is right when the labels say it repeats
an earlier matter), the share of true repeats put on the labelled matter, and new-facts agreement on true
repeats (the flag's "has new facts" against the label's).

The data is read by path and never copied into the project; without it the benchmark says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench.replay_quality import measure as measure_corpus

ROOT = Path(__file__).resolve().parents[1]
TIPDM = ROOT.parent / "shared" / "datasets" / "tipdm"
CORPUS = ROOT / "datasets" / "complaints.jsonl"
TARGETS = {  # issue 17
    "tipdm_precision": 0.90, "tipdm_recall": 0.90, "tipdm_new_facts_agreement": 0.85,
    "corpus_precision": 0.95, "corpus_recall": 0.95,
}


def read_decisions(replay_dir: Path) -> dict[str, dict]:
    with (replay_dir / "decisions.jsonl").open(encoding="utf-8") as handle:
        return {d["complaint_id"]: d for d in map(json.loads, handle)}


def measure_tipdm(replay_dir: Path, labels_path: Path) -> dict:
    labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False).set_index("id")
    decisions = read_decisions(replay_dir)
    missing = sorted(set(labels.index) - set(decisions))
    if missing:
        raise SystemExit(f"{replay_dir}: no decision for {len(missing)} labelled messages, e.g. {missing[:3]}")
    repeat = {i: decisions[i]["repeat"] for i in labels.index}
    actual = {i for i in labels.index if labels.at[i, "repeat_of"]}
    flagged = {i for i in labels.index if repeat[i]["is_repeat"]}
    true = flagged & actual
    # The right matter: the one the detector gave the labelled first message of the matter.
    right_matter = sum(repeat[i]["matter_id"] == repeat[labels.at[i, "repeat_of"]]["matter_id"] for i in true)
    facts_right = sum(bool(repeat[i]["new_facts"]) == (labels.at[i, "new_facts"] == "1") for i in true)
    return {
        "labelled": len(labels), "actual": len(actual), "flagged": len(flagged),
        "tipdm_precision": round(len(true) / max(len(flagged), 1), 3),
        "tipdm_recall": round(len(true) / max(len(actual), 1), 3),
        "tipdm_right_matter": round(right_matter / max(len(true), 1), 3),
        "tipdm_new_facts_agreement": round(facts_right / max(len(true), 1), 3),
        "tipdm_new_facts_share": round(sum(bool(repeat[i]["new_facts"]) for i in true) / max(len(true), 1), 3),
        "label_new_facts_share": round(sum(labels.at[i, "new_facts"] == "1" for i in true) / max(len(true), 1), 3),
        "false_repeats": sorted(flagged - actual),
        "missed_repeats": sorted(actual - flagged),
    }


def replay_into(data: Path, out: Path, model: Path, policy: Path | None) -> None:
    from triage.models import TriageModel
    from triage.policy import load_policy
    from triage.replay import read_complaints, replay
    from triage.service import TriageService

    triage_model = TriageModel.load(model)
    loaded = load_policy(policy)
    service = TriageService(triage_model, loaded, TriageService.new_similarity(triage_model, loaded))
    replay(service, read_complaints(data, loaded), out)


def table(result: dict) -> str:
    lines = ["| | measured | target | |", "|---|---|---|---|"]
    for key, target in TARGETS.items():
        value = result.get(key)
        met = value is not None and value >= target
        lines.append(f"| {key} | {'—' if value is None else f'{value:.3f}'} | ≥ {target} | "
                     f"{'met' if met else 'MISSED'} |")
    lines += ["", f"tipdm: {result['flagged']} flagged of {result['labelled']} labelled messages "
              f"({result['actual']} repeats); {result['tipdm_right_matter']:.3f} of the true repeats on the "
              f"labelled matter; new facts on {result['tipdm_new_facts_share']:.0%} of them "
              f"(labels: {result['label_new_facts_share']:.0%})"]
    if "corpus_new_facts_agreement" in result:
        lines.append(f"corpus: new-facts agreement {result['corpus_new_facts_agreement']:.3f}, "
                     f"repeat count exact {result['corpus_repeat_count_exact']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=TIPDM / "stream.csv")
    parser.add_argument("--labels", type=Path, default=TIPDM / "repeat_labels.csv")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--replay", type=Path, default=None, help="score this `triage replay --out` of the stream")
    parser.add_argument("--corpus-replay", type=Path, default=None, help="… and this one of the corpus")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for path in (args.data, args.labels):
        if not path.exists():
            print(f"no real data at {path}: nothing measured", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="real-repeats-") as scratch:
        stream_run = args.replay or Path(scratch) / "tipdm"
        if args.replay is None:
            replay_into(args.data, stream_run, args.model, args.policy)
        result = measure_tipdm(stream_run, args.labels)
        if args.corpus.exists():
            corpus_run = args.corpus_replay or Path(scratch) / "corpus"
            if args.corpus_replay is None:
                replay_into(args.corpus, corpus_run, args.model, args.policy)
            corpus = measure_corpus(corpus_run, args.corpus)["repeat"]
            result |= {"corpus_precision": corpus["precision"], "corpus_recall": corpus["recall"],
                       "corpus_new_facts_agreement": corpus["new_facts_agreement"],
                       "corpus_repeat_count_exact": corpus["repeat_count_exact"]}
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
