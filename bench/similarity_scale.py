"""Similarity index at window scale: build time, single-query latency and memory of an AutoIndex holding
N random 512-d unit vectors (clustered: random centres plus noise, as real embeddings are), beside the bare
cost of a numpy dot-product batch measured in the same run.

    python -m bench.similarity_scale [--sizes 10000 100000 1000000] [--queries 1000] [--json]

Each size runs in its own child process, so its RSS is that size's own. Per size:

* build_s — time inside `AutoIndex.add` for the N vectors, added in batches (data generation excluded);
  above the threshold (20,000) this includes the one move from exact to approximate.
* p50_ms / p99_ms — 1,000 single-vector `search(k=10)` calls with fresh queries from the same clusters.
* insert_p50_ms / insert_p99_ms — the window slides: 1,000 new vectors inserted one at a time;
  expire200_ms — removing the 200 oldest in one call, plus the next search (usearch charges each removal
  call, whatever its size, to the next operation: ~34 ms at 1M); per_complaint_ms = search p50 + insert
  p50 + expire200 / 200, the index's share of one complaint.
* recall@10 — of 100 probe queries against their exact top 10, tracked batch by batch during the build.
* rss_mb — resident memory after the build; base_rss_mb — the same process before the first add (numpy,
  usearch, the cluster centres); peak_rss_mb — ru_maxrss, the peak (the generator's batches included).
* dot_10k_ms — reference, measured first in the same process: one query against a 10,000 x 512 float32
  block with numpy (`q @ B.T`, p50 of 200); scan_ms — that cost scaled to N, what an exact scan of the
  whole window would take.

`--noise` sets the cluster spread (1.0: cosine ~0.5 between members of a cluster, ~0 across clusters; this
flat, structureless layout is a hard case for HNSW at 1M — real embeddings are hierarchical). `--expansion-search`
and `--connectivity` override the AnnIndex defaults (HNSW ef and M) to explore the recall / latency trade.

With --json the table goes to stderr and stdout carries one JSON object keyed by size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

import numpy as np

from triage.similarity.index import DEFAULT_THRESHOLD, AnnIndex, AutoIndex

DIM = 512
K = 10
PROBES = 100
EXPIRE_BATCH = 200


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: fall back to the peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class Clusters:
    """Random unit centres; samples are centre + Gaussian noise of about the centre's norm, renormalised
    (cosine to the centre ~0.7, between two members of a cluster ~0.5, across clusters ~0)."""

    def __init__(self, n_centres: int, seed: int, noise: float = 1.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = _unit_rows(self.rng.standard_normal((n_centres, DIM), dtype=np.float32))
        self.noise = noise / np.sqrt(DIM)

    def sample(self, n: int) -> np.ndarray:
        labels = self.rng.integers(0, len(self.centres), n)
        x = self.centres[labels] + self.noise * self.rng.standard_normal((n, DIM), dtype=np.float32)
        return _unit_rows(x)


def _percentiles_ms(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _dot_reference(rng: np.random.Generator, reps: int = 200) -> float:
    block = _unit_rows(rng.standard_normal((10_000, DIM), dtype=np.float32))
    q = block[:1].copy()
    for _ in range(10):
        q @ block.T
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        q @ block.T
        times.append(time.perf_counter() - started)
    return _percentiles_ms(times)[0]


def _slide(index: AutoIndex, clusters: Clusters, size: int, rounds: int = 5) -> tuple[list[float], list[float]]:
    """The window slides: each new complaint is inserted alone; the oldest expire in batches of
    EXPIRE_BATCH, the time of which includes the next search (usearch charges a removal to the next call)."""
    inserts, expiries = [], []
    probe = clusters.sample(1)
    next_id, oldest = size, 0
    for _ in range(rounds):
        for row in clusters.sample(EXPIRE_BATCH):
            began = time.perf_counter()
            index.add([next_id], row[None, :])
            inserts.append(time.perf_counter() - began)
            next_id += 1
        began = time.perf_counter()
        index.remove(np.arange(oldest, oldest + EXPIRE_BATCH))
        index.search(probe, K)
        expiries.append(time.perf_counter() - began)
        oldest += EXPIRE_BATCH
    return inserts, expiries


def measure(size: int, queries: int = 1000, batch: int = 10_000, threshold: int = DEFAULT_THRESHOLD,
            seed: int = 0, noise: float = 1.0, ann_options: dict | None = None) -> dict:
    dot = _dot_reference(np.random.default_rng(seed + 1))  # before anything else fills the caches
    clusters = Clusters(max(1, size // 20), seed, noise)
    probes = clusters.sample(PROBES)
    best_sims = np.full((PROBES, K), -np.inf, dtype=np.float32)
    best_ids = np.full((PROBES, K), -1, dtype=np.int64)
    index = AutoIndex(DIM, threshold=threshold, **(ann_options or {}))
    base_rss = _rss_mb()
    build = 0.0
    for start in range(0, size, batch):
        stop = min(size, start + batch)
        vectors = clusters.sample(stop - start)
        ids = np.arange(start, stop, dtype=np.int64)
        began = time.perf_counter()
        index.add(ids, vectors)
        build += time.perf_counter() - began
        # exact top-k of the probes, merged batch by batch
        sims = np.concatenate([best_sims, probes @ vectors.T], axis=1)
        cand = np.concatenate([best_ids, np.broadcast_to(ids, (PROBES, len(ids)))], axis=1)
        top = np.argpartition(-sims, K - 1, axis=1)[:, :K]
        best_sims, best_ids = np.take_along_axis(sims, top, axis=1), np.take_along_axis(cand, top, axis=1)
        if start // batch % 10 == 9:
            print(f"  [{size:,}] {stop:,} added, {build:.0f} s in add", file=sys.stderr, flush=True)
    rss = _rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    _, got = index.search(probes, K)
    recall = float(np.mean([len(set(g.tolist()) & set(t.tolist())) / K for g, t in zip(got, best_ids, strict=True)]))

    timed = clusters.sample(queries)
    for row in timed[:20]:
        index.search(row[None, :], K)
    times = []
    for row in timed:
        q = row[None, :]
        began = time.perf_counter()
        index.search(q, K)
        times.append(time.perf_counter() - began)
    p50, p99 = _percentiles_ms(times)
    inserts, expiries = _slide(index, clusters, size)
    insert_p50, insert_p99 = _percentiles_ms(inserts)
    expire_ms = float(np.median(expiries)) * 1000
    inner = index.inner
    return {
        "size": size,
        "index": "ann (usearch hnsw, bf16)" if index.is_approximate else "exact (numpy)",
        "build_s": round(build, 2),
        "adds_per_s": round(size / build) if build else None,
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "insert_p50_ms": round(insert_p50, 3),
        "insert_p99_ms": round(insert_p99, 3),
        f"expire{EXPIRE_BATCH}_ms": round(expire_ms, 2),
        "per_complaint_ms": round(p50 + insert_p50 + expire_ms / EXPIRE_BATCH, 3),
        "recall@10": round(recall, 3),
        "rss_mb": round(rss),
        "base_rss_mb": round(base_rss),
        "peak_rss_mb": round(peak),
        "index_mb": round(getattr(inner, "memory_usage", 0) / 2**20) if index.is_approximate
        else round(len(inner) * DIM * 4 / 2**20),
        "dot_10k_ms": round(dot, 3),
        "scan_ms": round(dot * size / 10_000, 2),
        "expansion_search": inner.options["expansion_search"] if isinstance(inner, AnnIndex) else None,
        "noise": noise,
        "cpus": os.cpu_count(),
    }


def _child(size: int, kwargs: dict, queue: mp.Queue) -> None:
    queue.put(measure(size, **kwargs))


def run(size: int, **kwargs) -> dict:
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(size, kwargs, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


COLUMNS = [("size", "N", "{:,}"), ("index", "index", "{}"), ("build_s", "build s", "{}"),
           ("adds_per_s", "adds/s", "{:,}"), ("p50_ms", "p50 ms", "{:.3f}"), ("p99_ms", "p99 ms", "{:.3f}"),
           ("insert_p50_ms", "insert p50", "{:.3f}"), ("insert_p99_ms", "insert p99", "{:.3f}"),
           (f"expire{EXPIRE_BATCH}_ms", f"expire {EXPIRE_BATCH}", "{:.1f}"),
           ("per_complaint_ms", "per compl.", "{:.3f}"),
           ("recall@10", "recall@10", "{:.3f}"), ("rss_mb", "RSS MB", "{:,}"), ("base_rss_mb", "base MB", "{:,}"),
           ("peak_rss_mb", "peak MB", "{:,}"), ("index_mb", "index MB", "{:,}"),
           ("dot_10k_ms", "dot 10k ms", "{:.3f}"), ("scan_ms", "scan N ms", "{:.2f}")]


def table(results: list[dict]) -> str:
    rows = [[h for _, h, _ in COLUMNS]]
    rows += [[fmt.format(r[key]) if r[key] is not None else "-" for key, _, fmt in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD)
    parser.add_argument("--expansion-search", type=int, default=None, help="HNSW ef (default: AnnIndex's)")
    parser.add_argument("--connectivity", type=int, default=None, help="HNSW M (default: AnnIndex's)")
    parser.add_argument("--noise", type=float, default=1.0,
                        help="cluster spread: 1.0 gives cosine ~0.5 between members, smaller is tighter")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ann_options = {key: value for key, value in
                   (("expansion_search", args.expansion_search), ("connectivity", args.connectivity))
                   if value is not None}
    results = []
    for size in args.sizes:
        print(f"window {size:,} ...", file=sys.stderr, flush=True)
        results.append(run(size, queries=args.queries, threshold=args.threshold, noise=args.noise,
                           ann_options=ann_options))
        print(table(results[-1:]), file=sys.stderr, flush=True)
    out = sys.stderr if args.json else sys.stdout
    print(table(results), file=out)
    if args.json:
        print(json.dumps({str(r["size"]): r for r in results}))


if __name__ == "__main__":
    main()
