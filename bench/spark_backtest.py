"""Backtest throughput on Spark at local[1] and local[2], beside one-process replay and the bare encode of the
same texts.

    python -m bench.spark_backtest [--model DIR] [--data ../shared/datasets/tipdm/stream.csv] [--limit N] [--json]

spark local[N]: `backtest_on_spark` (what `triage backtest --engine spark` runs) in a session of N cores, timed
from reading the file to the last decision written; the session's start and the Python workers' first model load
are excluded (a warm-up backtest of 64 complaints runs first in each session). Per stage: model (partitions),
rarity (driver), repeats (per customer), groups (driver), policy (partitions) and writing.

replay: `triage.replay.replay` in this process, the same complaints. bare encode: the model's own encoders on the
same texts, already normalised and masked, in batches of 256, nothing else (sentence embedder if any, n-gram
features, topic vector): what the featurisation alone costs on one core.

The target (issue 15): local[2] at least 1.7 × local[1]. Group detection runs on the driver in time order and
bounds it (Amdahl): the stage times show how much.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.replay_speed import TIPDM, bare_encode
from triage.data import read_table
from triage.models import TriageModel
from triage.policy import load_policy
from triage.replay import REQUIRED, read_complaints, replay
from triage.service import TriageService

WARM_UP = 64


def time_ordered_slice(path: Path, limit: int | None, out: Path) -> Path:
    """The first `limit` complaints in time order, as JSONL (ties keep file order, as replay sorts)."""
    frame = read_table(path, REQUIRED)
    order = pd.to_datetime(frame["received_at"], utc=True, format="ISO8601").argsort(kind="stable")
    frame = frame.iloc[order][:limit] if limit else frame.iloc[order]
    frame.to_json(out, orient="records", lines=True, force_ascii=False)
    return out


def spark_run(master: str, data: Path, warm: Path, model_dir: Path, work: Path) -> dict:
    from training.backtest.on_spark import backtest_on_spark, spark_session

    started = time.perf_counter()
    spark = spark_session(master, {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    policy = load_policy()
    try:
        backtest_on_spark(spark, str(warm), work / f"warm-{master}", model_dir, policy)
        start_s = time.perf_counter() - started
        summary = backtest_on_spark(spark, str(data), work / master, model_dir, policy)
    finally:
        spark.stop()
    total = summary.seconds["total"]
    return {"master": master, "complaints": summary.complaints, "seconds": round(total, 1),
            "per_s": round(summary.complaints / total, 2), "start_and_warm_up_s": round(start_s, 1),
            "stages_s": {k: round(v, 1) for k, v in summary.seconds.items() if k != "total"},
            "decisions": str(summary.decisions_path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--data", type=Path, default=TIPDM)
    parser.add_argument("--limit", type=int, default=1000, help="the first N complaints in time order (0: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = time_ordered_slice(args.data, args.limit or None, work / "stream.jsonl")
        warm = time_ordered_slice(data, WARM_UP, work / "warm.jsonl")
        runs = [spark_run(f"local[{cores}]", data, warm, args.model, work) for cores in (1, 2)]
        decided = {run["master"]: Path(run["decisions"]).read_bytes() for run in runs}
        same = decided["local[1]"] == decided["local[2]"]

        model, policy = TriageModel.load(args.model), load_policy()
        model.warm()
        complaints = read_complaints(data, policy)
        service = TriageService(model, policy, TriageService.new_similarity(model, policy))
        started = time.perf_counter()
        replay(service, complaints, work / "replay")
        replay_s = time.perf_counter() - started
        same_as_replay = (work / "replay" / "decisions.jsonl").read_bytes() == decided["local[2]"]
        encode_s = bare_encode(model, [p.text for p in model.prepare([c.text for c in complaints])]).wall

    n = len(complaints)
    result = {
        "data": str(args.data), "complaints": n,
        "spark": runs,
        "speedup_local2_over_local1": round(runs[1]["per_s"] / runs[0]["per_s"], 2),
        "replay_per_s": round(n / replay_s, 2),
        "bare_encode_per_s": round(n / encode_s, 2),
        "local1_equals_local2": same, "spark_equals_replay": same_as_replay,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    print(f"{n} complaints of {args.data}")
    for run in runs:
        stages = ", ".join(f"{k} {v} s" for k, v in run["stages_s"].items())
        print(f"  spark {run['master']:<9} {run['per_s']:7.1f}/s  ({run['seconds']} s: {stages}; session start and "
              f"warm-up {run['start_and_warm_up_s']} s, not counted)")
    print(f"  local[2] / local[1]  {result['speedup_local2_over_local1']:.2f}×  (target ≥ 1.7)")
    print(f"  replay, one process  {result['replay_per_s']:7.1f}/s")
    print(f"  bare encode          {result['bare_encode_per_s']:7.1f}/s  (the model's encoders alone, one process)")
    print(f"  decisions: local[1] = local[2]: {same}; spark = replay: {same_as_replay}")


if __name__ == "__main__":
    main()
