"""`python -m bench`: the service's speed in one run, each number beside the bare embedding cost of the same
texts measured in the same run (these machines are noisy; ratios hold where absolute numbers do not).

1. in-process: one complaint at a time through model → similarity → policy, and batches of 64, beside the
   bare `encode` of the same texts → `pipeline_overhead_ratio` (decision time / encode time, single);
2. cold start: `triage serve` started until /readyz answers 200;
3. HTTP on loopback under wrk at 1, 16 and 64 connections, single and batch (32 a request) endpoint;
4. the server's peak RSS after that load;
5. the similarity engine with 10k, 100k (and 1M, full run) complaints in the window;
6. training time and peak memory on celine's train.csv when it exists (full run).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.http_load import run_wrk, wrk_available

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "datasets" / "complaints.jsonl"
CELINE_TRAIN = ROOT.parent / "shared" / "datasets" / "celine" / "train.csv"


def _texts(n: int) -> list[str]:
    from triage.data import read_table

    texts = list(read_table(CORPUS, ["text"])["text"].astype(str))
    return [texts[i % len(texts)] for i in range(n)]


def _ms(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1000
    return round(float(np.percentile(values, 50)), 2), round(float(np.percentile(values, 99)), 2)


def inprocess(model_dir: Path, single: int, batch: int) -> dict:
    from triage.features.embedders import make_embedder
    from triage.models import TriageModel
    from triage.policy import load_policy
    from triage.schemas import ComplaintIn
    from triage.service import TriageService

    model = TriageModel.load(model_dir)
    model.warm()
    service = TriageService(model, load_policy())
    service.similarity = TriageService.new_similarity(model, service.policy)
    # The reference is always the bare USE encode (issue 13): the default model has no embedder of its own.
    encoder = make_embedder("use")
    texts = _texts(single + batch)
    complaints = [ComplaintIn(text=t, complaint_id=f"b{i}", customer_id=f"c{i % 97}", channel="app")
                  for i, t in enumerate(texts)]
    for complaint in complaints[:20]:  # warm both paths
        encoder.encode([complaint.text])
        service.triage([complaint])
    decide, encode = [], []
    for complaint in complaints[20:single]:  # interleaved: machine noise hits both alike
        started = time.perf_counter()
        encoder.encode([model.prepare([complaint.text])[0].text])
        encode.append(time.perf_counter() - started)
        started = time.perf_counter()
        service.triage([complaint])
        decide.append(time.perf_counter() - started)
    rest = complaints[single:]
    prepared = [p.text for p in model.prepare([c.text for c in rest])]
    started = time.perf_counter()
    for start in range(0, len(rest), 64):
        encoder.encode(prepared[start:start + 64])
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(rest), 64):
        service.triage(rest[start:start + 64])
    batch_s = time.perf_counter() - started
    p50, p99 = _ms(decide)
    e50, e99 = _ms(encode)
    return {"inprocess_p50_ms": p50, "inprocess_p99_ms": p99, "encode_p50_ms": e50, "encode_p99_ms": e99,
            "inprocess_rps": round(len(decide) / sum(decide), 1),
            "pipeline_overhead_ratio": round(sum(decide) / sum(encode), 2),
            "inprocess_batch_rps": round(len(rest) / batch_s, 1), "encode_rps": round(len(rest) / encode_s, 1),
            "batch_overhead_ratio": round(batch_s / encode_s, 2)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


# The overload bounds of issue 16 lifted (bench.overload --unbounded too): what the decisions alone can do.
UNBOUNDED = {"TRIAGE_MAX_IN_FLIGHT": "100000", "TRIAGE_INTAKE_QUEUE": "1000000",
             "TRIAGE_INTAKE_MAX_WAIT_SECONDS": "1000000"}


def server(model_dir: Path, seconds: float, connections: list[int], batch_connections: list[int] | None = None
           ) -> dict:
    """Start `triage serve`, time it to ready, load it with wrk, read its peak RSS."""
    from serving.store import Store

    results: dict = {}
    with tempfile.TemporaryDirectory() as data:
        store = Store(f"sqlite:///{data}/triage.db")
        _, key = store.create_key("bench", "intake")
        store.close()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        # Capacity and latency of the decisions themselves: the overload bounds (issue 16) lifted, or a batch of
        # 16 × 32 complaints is all 429s. How the bounds shed load is `python -m bench.overload`.
        env.update(UNBOUNDED)
        log = open(Path(data) / "server.log", "w")  # noqa: SIM115 - closed below, after the process
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--model", str(model_dir),
                                    "--data-dir", data, "--port", str(port)], env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"server did not become ready; see {log.name}")
                time.sleep(0.05)
            results["cold_start_s"] = round(time.perf_counter() - started, 2)
            results["rss_idle_mb"] = _peak_rss_mb(process.pid)
            texts = _texts(400)
            runs = []
            if wrk_available():
                run_wrk(url, key, texts, 4, 2)  # warm-up, not reported
                for c in connections:
                    runs.append(run_wrk(url, key, texts, c, seconds))
                # A batch of 32 at 64 connections is a backlog of 2,048 complaints: seconds each, by design.
                for c in batch_connections if batch_connections is not None else [16]:
                    runs.append(run_wrk(url, key, texts, c, seconds, batch=True, timeout_s=60))
            results["http"] = runs
            results["server_peak_rss_mb"] = _peak_rss_mb(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    return results


def similarity(sizes: list[int], complaints: int) -> dict:
    from bench.similarity_engine import _run

    context = mp.get_context("spawn")
    rows = {}
    for n in sizes:
        queue = context.Queue()
        child = context.Process(target=_run, args=(n, complaints, queue))
        child.start()
        rows[n] = queue.get()
        child.join()
    return rows


def training(data: Path) -> dict:
    from bench.core import bench_training

    return bench_training(data)


def run(model_dir: Path, quick: bool = False, progress=print) -> dict:
    seconds = 5 if quick else 15
    progress("in-process decisions and bare encode ...")
    result: dict = {"quick": quick, "machine": {"cpus": os.cpu_count()}, **inprocess(
        model_dir, single=200 if quick else 500, batch=512 if quick else 2048)}
    progress(f"server: cold start and wrk at 1/16/64 connections, {seconds} s each ...")
    served = server(model_dir, seconds, [1, 16, 64], [1, 16] if quick else [1, 16, 64])
    result.update(cold_start_s=served["cold_start_s"], server_idle_rss_mb=served["rss_idle_mb"],
                  server_peak_rss_mb=served["server_peak_rss_mb"], http=served["http"])
    singles = {r["connections"]: r for r in served["http"] if r["endpoint"] == "single"}
    batches = [r for r in served["http"] if r["endpoint"] == "batch" and r["connections"] == 16]
    if 16 in singles:
        result.update(http_p99_ms_16=singles[16]["p99_ms"], http_p50_ms_16=singles[16]["p50_ms"],
                      http_rps_16=singles[16]["rps"],
                      http_rps_16_over_inprocess=round(singles[16]["rps"] / result["inprocess_rps"], 2))
    result["http_errors"] = sum(r["errors"] for r in served["http"])
    result["http_shed_429"] = sum(r.get("shed_429", 0) for r in served["http"])
    if batches:
        result["batch_rps"] = batches[0]["complaints_per_s"]
        result["batch_rps_over_encode"] = round(batches[0]["complaints_per_s"] / result["encode_rps"], 2)
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    progress(f"similarity at {', '.join(f'{s:,}' for s in sizes)} complaints in the window ...")
    rows = similarity(sizes, 300 if quick else 1000)
    result["similarity_p50_ms"] = {str(n): r["observe_p50_ms"] for n, r in rows.items()}
    result["similarity_p99_ms"] = {str(n): r["observe_p99_ms"] for n, r in rows.items()}
    result["similarity_encode_p50_ms"] = {str(n): r["encode_p50_ms"] for n, r in rows.items()}
    result["similarity_rss_mb"] = {str(n): r["rss_mb"] for n, r in rows.items()}
    if not quick and CELINE_TRAIN.exists():
        progress("training on celine train.csv ...")
        result["training"] = training(CELINE_TRAIN)
    return result


def statistics_line(result: dict) -> str:
    return (f"overhead {result['pipeline_overhead_ratio']}x, p50 {result['inprocess_p50_ms']} ms, "
            f"HTTP@16 {result.get('http_rps_16')} rps p99 {result.get('http_p99_ms_16')} ms, "
            f"errors {result['http_errors']} (429s apart: {result.get('http_shed_429', 0)}), "
            f"cold start {result['cold_start_s']} s, "
            f"peak RSS {result['server_peak_rss_mb']} MB, median similarity "
            f"{statistics.median(result['similarity_p50_ms'].values())} ms")
