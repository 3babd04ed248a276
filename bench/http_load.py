"""HTTP load on loopback with wrk (a C load generator: Python clients would take the CPU the server needs).

Each request is a new complaint (unique id, customers drawn from 997, so repeats are looked for for real);
the batch endpoint gets `BATCH_ITEMS` complaints a request. wrk's Lua `done` hook writes the counts and
latency percentiles as JSON; 429s (the service shedding load, issue 16) are counted apart from errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

BATCH_ITEMS = 32

_SCRIPT = """
local texts = {%(texts)s}
local key = "%(key)s"
local path = "%(path)s"
local items = %(items)d
local out = "%(out)s"
local counter = 0
local thread_id = 0
local threads = {}
shed = 0  -- 429s of the service's backpressure: an answer (with Retry-After), counted apart from errors

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
end

local function complaint()
  counter = counter + 1
  local n = thread_id * 100000000 + counter
  return '{"complaint_id":"w' .. n .. '","customer_id":"c' .. (n %% 997) .. '","channel":"app","text":'
    .. texts[(n %% #texts) + 1] .. '}'
end

function request()
  local body
  if items > 1 then
    local parts = {}
    for i = 1, items do parts[i] = complaint() end
    body = '{"complaints":[' .. table.concat(parts, ",") .. ']}'
  else
    body = complaint()
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function response(status, headers, body)
  if status == 429 then shed = shed + 1 end
end

function done(summary, latency, requests)
  local e = summary.errors
  local total_shed = 0
  for _, thread in ipairs(threads) do total_shed = total_shed + thread:get("shed") end
  local f = io.open(out, "w")
  f:write(string.format('{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"shed":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, total_shed, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  f:close()
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(base_url: str, key: str, texts: list[str], connections: int, seconds: float, batch: bool = False,
            timeout_s: int = 10) -> dict:
    """One wrk run; returns throughput (requests and complaints per second), latency percentiles, errors."""
    items = BATCH_ITEMS if batch else 1
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "result.json"
        literals = ",".join(f"[==[{json.dumps(t, ensure_ascii=False)}]==]" for t in texts)
        script = Path(work) / "load.lua"
        script.write_text(_SCRIPT % {"texts": literals, "key": key, "items": items, "out": out,
                                     "path": "/v1/complaints/batch" if batch else "/v1/complaints"},
                          encoding="utf-8")
        threads = max(1, min(2, connections))
        subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                        "--timeout", f"{timeout_s}s", "-s", str(script), base_url],
                       check=True, capture_output=True, text=True)
        raw = json.loads(out.read_text())
    seconds_run = raw["duration_us"] / 1e6
    # A 429 is the service saying "busy, retry after N s" (issue 16's bounds): reported, not an error.
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] - raw["shed"] + raw["timeout"]
    return {"connections": connections, "endpoint": "batch" if batch else "single", "requests": raw["requests"],
            "rps": round(raw["requests"] / seconds_run, 1),
            "complaints_per_s": round(raw["requests"] * items / seconds_run, 1),
            "p50_ms": round(raw["p50_us"] / 1000, 1), "p90_ms": round(raw["p90_us"] / 1000, 1),
            "p99_ms": round(raw["p99_us"] / 1000, 1), "max_ms": round(raw["max_us"] / 1000, 1),
            "errors": errors, "non_2xx": raw["status"], "shed_429": raw["shed"], "timeouts": raw["timeout"]}
