"""Per-complaint cost of the whole similarity layer (repeat + copy-paste + group) with N complaints in the
window, beside the bare embedding cost, and the memory it takes.

    python -m bench.similarity_engine [--sizes 10000 100000 1000000] [--complaints 1000] [--json]

Each size runs in its own child process. The window is first filled in bulk with N complaints spread over
the last 13.9 days (random clustered unit vectors of the topic-vector width, 137; customers with one to
three complaints each, so every repeat history is non-empty; each prefilled complaint is its own cluster —
clustering them one by one would take hours at 1M and measures nothing more). Then `--complaints` complaints
go through `SimilarityEngine.observe` one at a time, 30 s apart, with real corpus texts (so jieba, the
fact reader and rapidfuzz do real work) and vectors from the same clusters: the window slides and expires
old entries in batches as in service. Reported: observe p50/p99, RSS after the fill, and, measured first in
the same process, the bare USE `encode` of one corpus text (p50) as the reference.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from bench.similarity_scale import _rss_mb
from triage.policy.schema import Similarity
from triage.similarity.engine import SimilarityEngine
from triage.similarity.facts import Facts
from triage.similarity.groups import Cluster, Member
from triage.similarity.matter import MatterKeys
from triage.similarity.repeat import _Earlier

DIM = 137  # 128 LSA dimensions + 9 category probabilities
START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_S = 13.9 * 86400


def _texts() -> list[str]:
    from triage.features.prepare import prepare_text
    with open("datasets/complaints.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [prepare_text(r["text"]).text for r in rows]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fill(engine: SimilarityEngine, n: int, centres: np.ndarray, rng: np.random.Generator) -> None:
    groups, repeats = engine.groups, engine.repeats
    batch = 50_000
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        labels = rng.integers(0, len(centres), stop - start)
        vectors = _unit(centres[labels] + rng.standard_normal((stop - start, DIM), dtype=np.float32) / np.sqrt(DIM))
        keys = np.arange(start, stop)
        groups.index.add(keys, vectors)
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            at = START.timestamp() + WINDOW_S * key / n
            customer = f"c{key // 2}"
            member = Member(key=key, complaint_id=f"p{key}", customer=customer, at=at, channel="app", product=None,
                            vector=vector.astype(np.float16), words="示例 投诉", cluster=key + 1)
            groups.members[key] = member
            groups._expiry.append((at, key))
            cluster = Cluster(number=key + 1, first_seen=at, last_seen=at, members={key},
                              total=vector.astype(np.float32), ever=[member.complaint_id])
            cluster.customers[customer] += 1
            groups.clusters[key + 1] = cluster
            repeats._histories.setdefault(customer, []).append(
                _Earlier(member.complaint_id, at, START, member.vector, "示例 投诉", frozenset({"示例", "投诉"}),
                         "其他", Facts.empty(), MatterKeys.empty(), member.complaint_id))
            repeats._expiry.append((at, customer))
    groups._next_cluster = n + 1
    engine._next_key = n


def _run(n: int, complaints: int, queue: mp.Queue) -> None:
    from triage.features.embedders import make_embedder

    rng = np.random.default_rng(0)
    texts = _texts()
    embedder = make_embedder("use")
    embedder.encode(texts[:8])
    encode = []
    for text in texts[:200]:
        started = time.perf_counter()
        embedder.encode([text])
        encode.append(time.perf_counter() - started)
    del embedder

    base_rss = _rss_mb()
    engine = SimilarityEngine(Similarity(), DIM)
    centres = _unit(rng.standard_normal((max(n // 20, 10), DIM), dtype=np.float32))
    started = time.perf_counter()
    _fill(engine, n, centres, rng)
    fill_s = time.perf_counter() - started
    rss = _rss_mb()

    labels = rng.integers(0, len(centres), complaints)
    vectors = _unit(centres[labels] + rng.standard_normal((complaints, DIM), dtype=np.float32) / np.sqrt(DIM))
    timings = []
    now = START + timedelta(seconds=WINDOW_S)
    for i in range(complaints):
        now += timedelta(seconds=30)
        customer = f"c{int(rng.integers(0, max(n // 2, 1)))}"  # an existing customer: a real repeat comparison
        started = time.perf_counter()
        engine.observe(f"q{i}", customer, now, texts[i % len(texts)], "其他", vectors[i], channel="app")
        timings.append(time.perf_counter() - started)
    ms = np.asarray(timings) * 1000
    queue.put({
        "window": n, "approximate": engine.groups.index.is_approximate, "fill_s": round(fill_s, 1),
        "observe_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "observe_p99_ms": round(float(np.percentile(ms, 99)), 2),
        "encode_p50_ms": round(float(np.percentile(np.asarray(encode) * 1000, 50)), 2),
        "rss_mb": round(rss), "base_rss_mb": round(base_rss),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--complaints", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    context = mp.get_context("spawn")
    results = {}
    out = sys.stderr if args.json else sys.stdout
    print("| window | index | fill | observe p50 / p99 | bare encode p50 | RSS after fill (before) |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    for n in args.sizes:
        queue = context.Queue()
        child = context.Process(target=_run, args=(n, args.complaints, queue))
        child.start()
        row = queue.get()
        child.join()
        results[n] = row
        print(f"| {n:,} | {'usearch HNSW' if row['approximate'] else 'exact'} | {row['fill_s']} s | "
              f"{row['observe_p50_ms']} / {row['observe_p99_ms']} ms | {row['encode_p50_ms']} ms | "
              f"{row['rss_mb']:,} MB ({row['base_rss_mb']:,} MB) |", file=out, flush=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
