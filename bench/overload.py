"""Overload on loopback: more clients than the service can serve, against `triage serve` with its bounds (issue 16).

wrk (C, so the clients do not take the server's CPU) keeps `--connections` complaints in flight on
POST /v1/complaints; its Lua hooks count 201s, 429s (and whether they carried Retry-After), 503s and anything
else, and — unless `--ignore-retry-after` — wait as long as Retry-After says before that connection's next
request, as a well-behaved client does. Beside it, two Python clients: one GETs /healthz every 50 ms (what an
orchestrator's liveness probe sees), one submits complaints one after another and times the accepted ones end to
end (what a client that gets in waits).

    python -m bench.overload --model DIR [--connections 64] [--seconds 20] [--unbounded] [--ignore-retry-after]
                             [--set max_in_flight=8 ...]

`--unbounded` lifts the bounds (the service as it was before them) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.http_load import wrk_available
from bench.suite import UNBOUNDED, _free_port, _texts

_SCRIPT = """
local texts = {%(texts)s}
local key = "%(key)s"
local honour = %(honour)s
local out = "%(out)s"
local counter = 0
local thread_id = 0
local threads = {}
local backoff = 0
created, busy, busy_with_retry_after, unavailable, other = 0, 0, 0, 0, 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
end

function request()
  counter = counter + 1
  local n = thread_id * 100000000 + counter
  local body = '{"complaint_id":"%(prefix)s' .. n .. '","customer_id":"c' .. (n %% 997) .. '","channel":"app","text":'
    .. texts[(n %% #texts) + 1] .. '}'
  return wrk.format("POST", "/v1/complaints",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function response(status, headers, body)
  if status == 201 or status == 200 then
    created = created + 1
  elseif status == 429 then
    busy = busy + 1
    local after = headers["retry-after"] or headers["Retry-After"]
    if after then
      busy_with_retry_after = busy_with_retry_after + 1
      if honour then backoff = tonumber(after) * 1000 end
    end
  elseif status == 503 then
    unavailable = unavailable + 1
  else
    other = other + 1
  end
end

-- called for the connection whose response was just read: it waits out its Retry-After
function delay()
  local wait = backoff
  backoff = 0
  return wait
end

function done(summary, latency, requests)
  local totals = {created = 0, busy = 0, busy_with_retry_after = 0, unavailable = 0, other = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do totals[name] = totals[name] + thread:get(name) end
  end
  local e = summary.errors
  local f = io.open(out, "w")
  f:write(string.format('{"requests":%%d,"duration_us":%%d,"socket_errors":%%d,"timeouts":%%d,' ..
    '"created":%%d,"busy":%%d,"busy_with_retry_after":%%d,"unavailable":%%d,"other":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}',
    summary.requests, summary.duration, e.connect + e.read + e.write, e.timeout,
    totals.created, totals.busy, totals.busy_with_retry_after, totals.unavailable, totals.other,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  f:close()
end
"""


def _percentiles(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    values = np.asarray(samples) * 1000
    return {"n": len(samples), "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p99_ms": round(float(np.percentile(values, 99)), 1), "max_ms": round(float(values.max()), 1)}


class _Probe(threading.Thread):
    """GET /healthz every `every` seconds until stopped; latencies and failures."""

    def __init__(self, url: str, every: float = 0.05):
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
                self.stop.wait(max(0.0, self.every - (time.perf_counter() - started)))


class _Submitter(threading.Thread):
    """Submits complaints one after another (honouring Retry-After); times the accepted ones end to end."""

    def __init__(self, url: str, key: str, texts: list[str]):
        super().__init__(daemon=True)
        self.url, self.key, self.texts = url, key, texts
        self.accepted: list[float] = []
        self.busy = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.key}"}) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = {"complaint_id": f"s{n}", "customer_id": f"s{n % 97}", "text": self.texts[n % len(self.texts)]}
                started = time.perf_counter()
                response = client.post("/v1/complaints", json=body)
                if response.status_code == 201:
                    self.accepted.append(time.perf_counter() - started)
                elif response.status_code == 429:
                    self.busy += 1
                    self.stop.wait(float(response.headers.get("Retry-After", "1")))


def _wrk(url: str, key: str, texts: list[str], connections: int, seconds: int, honour: bool, prefix: str) -> dict:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "result.json"
        literals = ",".join(f"[==[{json.dumps(t, ensure_ascii=False)}]==]" for t in texts)
        script = Path(work) / "overload.lua"
        script.write_text(_SCRIPT % {"texts": literals, "key": key, "out": out, "prefix": prefix,
                                     "honour": "true" if honour else "false"}, encoding="utf-8")
        subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{int(seconds)}s", "--timeout", "10s",
                        "-s", str(script), url], check=True, capture_output=True, text=True)
        raw = json.loads(out.read_text())
    duration = raw.pop("duration_us") / 1e6
    return {**{k: v for k, v in raw.items() if not k.endswith("_us")},
            "rps": round(raw["requests"] / duration, 1), "created_per_s": round(raw["created"] / duration, 1),
            **{k.replace("_us", "_ms"): round(v / 1000, 1) for k, v in raw.items() if k.endswith("_us")}}


def run(model_dir: Path, connections: int, seconds: int, bounded: bool = True, honour: bool = True,
        settings: dict[str, str] | None = None) -> dict:
    from serving.store import Store

    texts = _texts(400)
    with tempfile.TemporaryDirectory() as data:
        store = Store(f"sqlite:///{data}/triage.db")
        _, key = store.create_key("overload bench", "intake")
        store.close()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        env["TRIAGE_LOG_LEVEL"] = "WARNING"
        if not bounded:
            env.update(UNBOUNDED)
        env.update({f"TRIAGE_{name.upper()}": value for name, value in (settings or {}).items()})
        log = open(Path(data) / "server.log", "w")  # noqa: SIM115 - closed below, after the process
        process = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--model", str(model_dir),
                                    "--data-dir", data, "--port", str(port)], env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 180:
                    raise RuntimeError(f"the server did not become ready; see {log.name}")
                time.sleep(0.1)
            _wrk(url, key, texts, 4, 3, honour, "warm")  # warm-up, not reported (ids of its own: no retries)
            load_average = os.getloadavg()[0]  # the machine's, before: other work shares these cores
            probe, submitter = _Probe(url), _Submitter(url, key, texts)
            probe.start()
            submitter.start()
            load = _wrk(url, key, texts, connections, seconds, honour, "load")
            probe.stop.set()
            submitter.stop.set()
            probe.join()
            submitter.join()
            shed = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
                    for line in httpx.get(f"{url}/metrics").text.splitlines()
                    if line.startswith("triage_requests_shed_total{")}
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    return {"connections": connections, "seconds": seconds, "bounded": bounded, "honour_retry_after": honour,
            "settings": settings or {}, "cpus": len(os.sched_getaffinity(0)),
            "load_average_1min_before": round(load_average, 1),
            "wrk": load, "accepted_one_client": {**_percentiles(submitter.accepted), "busy": submitter.busy},
            "healthz_every_50ms": {**_percentiles(probe.latencies), "failures": probe.failures},
            "shed_by_bound": shed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--unbounded", action="store_true", help="lift the bounds: the service before issue 16")
    parser.add_argument("--ignore-retry-after", action="store_true", help="clients retry at once after a 429")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a service setting for this run, e.g. --set max_in_flight=8 (TRIAGE_MAX_IN_FLIGHT)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    if not wrk_available():
        sys.exit("wrk is not installed (make system-deps installs it)")
    result = run(args.model, args.connections, args.seconds, not args.unbounded, not args.ignore_retry_after, settings)
    if args.json:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:>22}: {value}")


if __name__ == "__main__":
    main()
