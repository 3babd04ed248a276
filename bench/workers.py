"""Many workers over one store (issue 15): `triage serve --workers 1` against `--workers 2` under the same HTTP
load, and the capacity of the step every worker and instance takes one at a time (catch up, decide
similarity and policy, number and commit: the store's global order), which bounds how far more instances scale.

    .venv/bin/python -m bench.workers --model DIR [--scratch-database-url URL] [--seconds 20] [--json]
    .venv/bin/python -m bench.workers --model /tmp/s6/model --scratch-database-url "$(.ci/postgres.sh | tail -1)"

HTTP: wrk on loopback, 16 connections, each request a new complaint (customers drawn from 997); a fresh store
for each run (SQLite in a temporary directory, or with --http-on-scratch the scratch PostgreSQL database, emptied
first). Capacity:
in-process, two intakes over one store (two instances) take batches in turn, so each catches up on the
other's before deciding; the time inside the global order divided into the complaints that went through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer

from bench.http_load import run_wrk, wrk_available
from bench.suite import _free_port, _texts


def _empty(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextlib.contextmanager
def _store_url(scratch: str | None) -> Iterator[str]:
    if scratch:
        _empty(scratch)
        yield scratch
        return
    with tempfile.TemporaryDirectory() as data:
        yield f"sqlite:///{data}/triage.db"


def http(model_dir: Path, workers: int, connections: int, seconds: int, scratch: str | None) -> dict:
    """`triage serve --workers N` on a fresh store under wrk; every worker warmed before the measured run."""
    from serving.store import Store

    with _store_url(scratch) as url, tempfile.TemporaryDirectory() as data:
        store = Store(url)
        _, key = store.create_key("bench", "intake")
        store.close()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        env["TRIAGE_DATABASE_URL"] = url
        log_path = Path(data) / "server.log"
        with log_path.open("w") as log:
            process = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--model", str(model_dir),
                                        "--data-dir", data, "--port", str(port), "--workers", str(workers)],
                                       env=env, stdout=log, stderr=log, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            ready = 0
            while ready < 20 * workers:  # consecutive 200s: every worker has loaded its model
                try:
                    ready = ready + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
                except httpx.TransportError:
                    ready = 0
                if process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError(f"server did not become ready; see {log_path}")
                time.sleep(0.02)
            texts = _texts(400)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(timeout=30) as client:  # each worker's first complaints (lazy imports, caches)
                for i in range(10 * workers):
                    client.post(f"{base}/v1/complaints", headers=headers,
                                json={"complaint_id": f"warm-{i}", "customer_id": f"warm-{i}", "text": texts[i]})
            result = run_wrk(base, key, texts, connections, seconds)
            # wrk counts a 429 of the intake's backpressure as a request: what was accepted is what matters
            duration = result["requests"] / result["rps"] if result["rps"] else float("nan")
            result["accepted_per_s"] = round((result["requests"] - result["non_2xx"]) / duration, 1)
            result["stored_in_order"] = _gapless(url)
            return {"workers": workers, **result}
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _gapless(url: str) -> bool:
    """The global order after the run: numbered 1..n, one number a complaint."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        count, first, last = connection.execute(
            text("SELECT count(*), min(global_seq), max(global_seq) FROM complaints")).one()
    engine.dispose()
    return bool(count and first == 1 and last == count)


def capacity(model_dir: Path, batch: int, complaints: int, scratch: str | None) -> dict:
    """Two intakes over one store take batches in turn (each catches up on the other's before deciding); the
    model half is done beforehand. Returns complaints/s through the global order and through the whole step."""
    from serving.intake import Intake
    from serving.store import Store
    from triage.models import TriageModel
    from triage.policy import load_policy
    from triage.schemas import ComplaintIn
    from triage.service import TriageService

    model = TriageModel.load(model_dir)
    model.warm()
    policy = load_policy()
    texts = _texts(complaints)
    with _store_url(scratch) as url:
        stores = [Store(url), Store(url)]
        intakes = [Intake(TriageService(model, policy), store, None) for store in stores]
        for intake in intakes:
            intake.service.warm()
        inside = [0.0]
        for store in stores:  # time spent holding the global order
            ordered = store.ordered

            @contextlib.contextmanager
            def timed(ordered=ordered):
                started = time.perf_counter()
                with ordered() as session:
                    yield session
                inside[0] += time.perf_counter() - started

            store.ordered = timed  # type: ignore[method-assign]
        batches = [[ComplaintIn(complaint_id=f"cap-{i}", customer_id=f"c{i % 997}", channel="app", text=texts[i])
                    for i in range(start, min(start + batch, complaints))] for start in range(0, complaints, batch)]
        staged = [intakes[n % 2].model_stage(list(b)) for n, b in enumerate(batches)]
        started = time.perf_counter()
        for n, stage in enumerate(staged):
            intakes[n % 2].store_stage(stage)
        whole = time.perf_counter() - started
        for store in stores:
            store.close()
    return {"batch": batch, "complaints": complaints, "store": url.split(":", 1)[0].split("+", 1)[0],
            "global_order_per_s": round(complaints / inside[0], 1),
            "ms_per_complaint_in_global_order": round(inside[0] / complaints * 1000, 2),
            "store_stage_per_s": round(complaints / whole, 1)}


def main(
    model: Annotated[Path, typer.Option(help="Model directory to serve.")],
    scratch_database_url: Annotated[str | None, typer.Option(
        help="A PostgreSQL database to run on, EMPTIED before each run (default: SQLite in a temporary directory).")
    ] = None,
    seconds: Annotated[int, typer.Option(help="Length of each wrk run, in seconds.")] = 20,
    connections: Annotated[int, typer.Option(help="wrk connections.")] = 16,
    complaints: Annotated[int, typer.Option(help="Complaints through the capacity measurement.")] = 600,
    http_on_scratch: Annotated[bool, typer.Option(help="Serve the HTTP runs from the scratch database too "
                                                       "(default: SQLite, the one-host default).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """HTTP: 1 against 2 workers at the same load; capacity of the global order on SQLite and, given a scratch
    PostgreSQL database, on it too."""
    result: dict = {"cores": len(os.sched_getaffinity(0)), "load_average_before": os.getloadavg()[0],
                    "http": [], "capacity": []}
    if wrk_available():
        for workers in (1, 2):
            result["http"].append(http(model, workers, connections, seconds,
                                       scratch_database_url if http_on_scratch else None))
            print(json.dumps(result["http"][-1]), file=sys.stderr)
    for url in [None, scratch_database_url] if scratch_database_url else [None]:
        for batch in (1, 16):
            result["capacity"].append(capacity(model, batch, complaints, url))
            print(json.dumps(result["capacity"][-1]), file=sys.stderr)
    result["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(result, ensure_ascii=False, indent=None if as_json else 2))


if __name__ == "__main__":  # pragma: no cover
    typer.run(main)
