"""Replay throughput beside the bare encode of the same texts, in one process.

    python -m bench.replay_speed [--model DIR] [--data ../shared/datasets/tipdm/stream.csv] [--limit N] [--json]

replay: `triage.replay.replay` of every complaint (the model in batches of 256, then similarity and policy
one complaint at a time, writing decisions.jsonl and clusters.json to a temporary directory).

bare encode: the encoders a decision cannot do without, run on the same texts already normalised and masked,
in batches of 256 and nothing else — the model's sentence embedder (none in the default model), its n-gram
features, and the topic vector the similarity layer compares (char and jieba-word TF-IDF, projected). That is
what the decision's own featurisation costs; everything the replay spends beyond it (the heads, the similarity
layer's names and terms, the window, the policy, writing the decisions) is the overhead measured. (Until
2026-11-30 the reference was a USE encode, whatever the model's embedder: for the default model, which has
none, that measured a cost the decision never pays.)

Word caches are emptied before each timed part, so neither reads the other's segmentation. The encode is
timed before and after the replay; the faster of the two is the reference (the stricter ratio). Model load
and warm-up are excluded. Both clocks are reported: CPU seconds of this process (steady on a shared machine)
and wall-clock seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from triage.features.tokenizer import clear_word_caches
from triage.models import TriageModel
from triage.models.pipeline import as_frame
from triage.policy import load_policy
from triage.replay import BATCH, read_complaints, replay
from triage.service import TriageService

TIPDM = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "tipdm" / "stream.csv"


class Timer:
    """Wall-clock and CPU seconds of a block (on a machine shared with other work, the CPU seconds of this
    process are the steadier measure; both are reported)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def bare_encode(model: TriageModel, texts: list[str]) -> Timer:
    """Encode prepared texts as a decision must: embedding, n-gram features, topic vector."""
    clear_word_caches()
    with Timer() as timer:
        for start in range(0, len(texts), BATCH):
            batch = texts[start:start + BATCH]
            embeddings = model.embed(batch)
            model.features_.transform(as_frame(batch, embeddings))
            model.topics_.transform(batch, np.zeros((len(batch), len(model.classes_)), dtype=np.float32))
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--data", type=Path, default=TIPDM)
    parser.add_argument("--limit", type=int, default=None, help="only the first N complaints in time order")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model, policy = TriageModel.load(args.model), load_policy()
    complaints = read_complaints(args.data, policy)[:args.limit]
    texts = [p.text for p in model.prepare([c.text for c in complaints])]
    service = TriageService(model, policy, TriageService.new_similarity(model, policy))
    service.warm()

    encode_before = bare_encode(model, texts)
    clear_word_caches()
    with tempfile.TemporaryDirectory() as out, Timer() as replayed:
        replay(service, complaints, out)
    encode_after = bare_encode(model, texts)
    n = len(complaints)
    result: dict = {"complaints": n, "median_chars": int(np.median([len(t) for t in texts]))}
    for clock in ("cpu", "wall"):
        encode_s = min(getattr(encode_before, clock), getattr(encode_after, clock))
        replay_s = getattr(replayed, clock)
        result[clock] = {"replay_s": round(replay_s, 2), "replay_per_s": round(n / replay_s, 1),
                         "encode_s": round(encode_s, 2), "encode_per_s": round(n / encode_s, 1),
                         "encode_s_before_after": [round(getattr(encode_before, clock), 2),
                                                   round(getattr(encode_after, clock), 2)],
                         "replay_share_of_encode_throughput": round(encode_s / replay_s, 3)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{n} complaints (median {result['median_chars']} characters)")
    for clock, figures in (("CPU", result["cpu"]), ("wall", result["wall"])):
        print(f"  {clock:>4}: replay {figures['replay_s']:.1f} s ({figures['replay_per_s']:.1f}/s), bare encode "
              f"{figures['encode_s']:.1f} s ({figures['encode_per_s']:.1f}/s): replay runs at "
              f"{figures['replay_share_of_encode_throughput']:.0%} of the bare encode's throughput")


if __name__ == "__main__":
    main()
