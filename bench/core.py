"""Core benchmarks: training time and peak memory, single-complaint latency, batch throughput —
each beside the bare embedding cost of the same texts, measured in the same run.

    python -m bench.core [--train-data PATH] [--model DIR] [--json]

Training is measured in a child process, so its peak RSS is the training's own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from triage.data import read_table
from triage.features.embedders import make_embedder
from triage.models import TriageModel

CELINE_TRAIN = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "celine" / "train.csv"
CORPUS = Path(__file__).resolve().parents[1] / "datasets" / "complaints.jsonl"


def _train_child(data: str, out: str, queue: mp.Queue) -> None:
    frame = read_table(data, ["text", "category"])
    tiers = list(frame["tier"].astype(str)) if "tier" in frame.columns else None
    started = time.perf_counter()
    TriageModel().fit(list(frame["text"].astype(str)), list(frame["category"].astype(str)), tiers).save(out)
    queue.put({"seconds": time.perf_counter() - started, "rows": len(frame)})


def bench_training(data: Path) -> dict:
    queue: mp.Queue = mp.get_context("fork").Queue()
    with tempfile.TemporaryDirectory() as out:
        child = mp.get_context("fork").Process(target=_train_child, args=(str(data), out, queue))
        child.start()
        result = queue.get()
        child.join()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"data": str(data.resolve()), "rows": result["rows"], "train_seconds": round(result["seconds"], 1),
            "train_peak_rss_mb": round(peak_mb)}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_inference(model: TriageModel, texts: list[str], single: int = 300, batch: int = 500) -> dict:
    model.warm()
    # The reference is always the bare USE encode: the default model has no embedder of its own.
    embedder = make_embedder("use")
    singles = texts[:single]
    for text in singles[:20]:  # warm caches on both paths
        model.predict([text])
        embedder.encode([text])
    pipeline_times, encode_times = [], []
    for text in singles:  # interleaved, so machine noise hits both alike
        start = time.perf_counter()
        embedder.encode([model.prepare([text])[0].text])
        encode_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.predict([text])
        pipeline_times.append(time.perf_counter() - start)
    batch_texts = (texts * (batch // max(1, len(texts)) + 1))[:batch]
    prepared = [p.text for p in model.prepare(batch_texts)]
    start = time.perf_counter()
    embedder.encode(prepared)
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(batch_texts)
    batch_seconds = time.perf_counter() - start
    p50, p99 = _percentiles(pipeline_times)
    e50, e99 = _percentiles(encode_times)
    return {
        "single_n": len(singles), "inprocess_p50_ms": round(p50, 2), "inprocess_p99_ms": round(p99, 2),
        "encode_single_p50_ms": round(e50, 2), "encode_single_p99_ms": round(e99, 2),
        "single_overhead_ratio": round(statistics.median(pipeline_times) / statistics.median(encode_times), 2),
        "batch_n": batch, "batch_rps": round(batch / batch_seconds, 1), "encode_rps": round(batch / encode_seconds, 1),
        "batch_overhead_ratio": round(batch_seconds / encode_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-data", type=Path, default=CELINE_TRAIN if CELINE_TRAIN.exists() else CORPUS)
    parser.add_argument("--model", type=Path, default=None, help="model to time (default: train one on the corpus)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results: dict = {"cpus": len(__import__("os").sched_getaffinity(0))}
    if not args.skip_training:
        results["training"] = bench_training(args.train_data)
    corpus = read_table(CORPUS, ["text", "category"])
    if args.model:
        model = TriageModel.load(args.model)
    else:
        model = TriageModel().fit(list(corpus["text"]), list(corpus["category"]), list(corpus["tier"]))
    texts = list(corpus["text"].sample(frac=1.0, random_state=0))
    results["inference"] = bench_inference(model, texts)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return
    for section, values in results.items():
        if isinstance(values, dict):
            print(f"[{section}]")
            for key, value in values.items():
                print(f"  {key:<24} {value}")
        else:
            print(f"{section}: {values}")


if __name__ == "__main__":
    main()
