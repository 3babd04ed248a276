"""The CI smoke benchmark: cannot flake on a noisy machine because it compares ratios measured in one run
(decision time over the bare encode of the same texts) with 3x their recorded values, and counts errors.
It catches what makes the pipeline several times slower than it was, or makes requests fail under load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.suite import inprocess, server

pytestmark = pytest.mark.slow
RECORDED = json.loads((Path(__file__).resolve().parents[2] / "bench" / "recorded.json").read_text())


def test_the_pipeline_costs_at_most_three_times_its_recorded_ratio(model_dir):
    result = inprocess(model_dir, single=80, batch=256)
    print(f"pipeline_overhead_ratio {result['pipeline_overhead_ratio']} (recorded "
          f"{RECORDED['pipeline_overhead_ratio']}), batch_overhead_ratio {result['batch_overhead_ratio']} "
          f"(recorded {RECORDED['batch_overhead_ratio']})")
    assert result["pipeline_overhead_ratio"] <= 3 * RECORDED["pipeline_overhead_ratio"]
    assert result["batch_overhead_ratio"] <= 3 * RECORDED["batch_overhead_ratio"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make system-deps installs it)")
def test_the_served_api_answers_every_request_under_load(model_dir):
    result = server(model_dir, seconds=3, connections=[8])
    print(json.dumps(result["http"]))
    assert result["http"] and all(run["requests"] > 0 for run in result["http"])
    # every request answered: a decision, or a 429 with Retry-After when the intake is behind (a loaded machine)
    assert sum(run["errors"] for run in result["http"]) == 0
    assert all(run["shed_429"] < run["requests"] for run in result["http"])
    assert result["cold_start_s"] > 0
