"""Replay throughput on the corpus beside the bare embedding cost of the same texts, in one process.

    python -m bench.replay_speed [--model models/default] [--data datasets/complaints.jsonl] [--json]

replay_s: `triage.replay.replay` of every complaint (model in batches of 256, then similarity and policy
one complaint at a time, writing decisions.jsonl and clusters.json to a temporary directory); encode_s: the
embedder's `encode` of the same texts in batches of 256, nothing else. Model load and warm-up excluded.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from triage.features.embedders import make_embedder
from triage.models import TriageModel
from triage.policy import load_policy
from triage.replay import read_complaints, replay
from triage.service import TriageService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--data", type=Path, default=Path("datasets/complaints.jsonl"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model, policy = TriageModel.load(args.model), load_policy()
    model.warm()
    complaints = read_complaints(args.data, policy)
    texts = [p.text for p in model.prepare([c.text for c in complaints])]

    reference = make_embedder("use")  # the bare USE encode, whatever the model's own embedder
    reference.encode(texts[:8])
    started = time.perf_counter()
    for start in range(0, len(texts), 256):
        reference.encode(texts[start:start + 256])
    encode_s = time.perf_counter() - started

    service = TriageService(model, policy, TriageService.new_similarity(model, policy))
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        replay(service, complaints, out)
        replay_s = time.perf_counter() - started
    n = len(complaints)
    result = {"complaints": n, "replay_s": round(replay_s, 2), "replay_per_s": round(n / replay_s, 1),
              "encode_s": round(encode_s, 2), "encode_per_s": round(n / encode_s, 1),
              "replay_over_encode": round(replay_s / encode_s, 2)}
    print(json.dumps(result) if args.json else
          f"{n} complaints: replay {replay_s:.2f} s ({n / replay_s:.0f}/s), bare encode {encode_s:.2f} s "
          f"({n / encode_s:.0f}/s); replay takes {replay_s / encode_s:.2f}× the bare encode")


if __name__ == "__main__":
    main()
