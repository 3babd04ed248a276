"""`triage backtest --engine spark`: the decisions of `triage replay`, computed on Spark.

    read (CSV, JSONL, Parquet; any path Spark reads)  ─► rows numbered in file order
    ─► model stage, in parallel over partitions (mapInPandas; the model shipped once with addFile and loaded
       once per Python worker): prediction, topic vector, the words and matter terms of each complaint
    ─► one pass on the driver in time order, for what reads the whole stream: the repeat window's word rarity
       (set operations) and group detection
    ─► repeat detection, in parallel per customer (groupBy customer + applyInPandas)
    ─► the policy, in parallel again (a pure function of the complaint, its prediction and its similarity)
    ─► decisions.jsonl and clusters.json under --out, as `triage replay` writes them

Time order is (received_at, file order), as replay's stable sort. The driver holds what the similarity window
holds in replay (terms and topic vectors of the window), not the model.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from training.backtest.partitions import (
    DECIDED,
    PREDICTED,
    REPEATS,
    RaritySweep,
    decide_batches,
    predict_batches,
    repeats_of_customer,
)
from triage.data import DataError
from triage.models import TriageModel
from triage.policy import Policy
from triage.replay import OPTIONAL, REQUIRED, ReplaySummary
from triage.schemas import ComplaintIn, Prediction, RepeatInfo
from triage.service import TriageService

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Progress = Callable[[str], None]
FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".json": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class SparkBacktestSummary(ReplaySummary):
    """What `triage replay` reports, and the seconds of each stage."""

    seconds: dict[str, float] = field(default_factory=dict)  # per stage: model, stream, repeats_policy


def spark_session(master: str | None = None, config: dict[str, str] | None = None) -> SparkSession:
    """A Spark session: `master` (local[N], spark://…, yarn, k8s://…) or spark-submit's, else local[*]."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    # Local mode: the executors' Python is this one (with the project installed), not whatever `python3` is.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("triage backtest")
    if master:
        builder = builder.master(master)
    elif not SparkConf().contains("spark.master"):
        builder = builder.master("local[*]")
    # Times in the data are read as text in UTC; the policy's zone applies to naive ones, as in replay.
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read_rows(spark: SparkSession, data: str) -> DataFrame:
    """The complaints table with its rows numbered in file order (`row`) and the columns replay reads."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    kind = FORMATS.get(Path(urlparse(data).path).suffix.lower())
    if kind is None:
        raise DataError(f"{data}: unknown format; use .csv, .jsonl or .parquet")
    if not urlparse(data).scheme and not Path(data).exists():
        raise DataError(f"{data}: no such file")
    try:
        if kind == "csv":  # every cell text, as replay reads CSV; a text may span lines inside quotes
            frame = spark.read.options(header=True, multiLine=True, escape='"', encoding="UTF-8").csv(data)
        elif kind == "json":
            frame = spark.read.options(mode="FAILFAST", encoding="UTF-8").json(data)
        else:
            frame = spark.read.parquet(data)
        columns = frame.columns
    except PySparkException as exc:
        raise DataError(f"{data}: cannot read as {kind}: {str(exc).splitlines()[0]}") from exc
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(f"{data}: missing column(s) {', '.join(missing)}; "
                        f"columns found: {', '.join(columns) or 'none'}")
    wanted = [c for c in (*REQUIRED, *OPTIONAL) if c in columns]
    selected = []
    for name in wanted:
        kind_of = frame.schema[name].dataType
        if isinstance(kind_of, TimestampType):  # an instant: ISO 8601 in UTC, as replay writes a Parquet one
            selected.append(F.date_format(F.col(name), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").alias(name))
        elif isinstance(kind_of, TimestampNTZType):  # a wall-clock time: the policy's zone applies
            selected.append(F.date_format(F.col(name), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS").alias(name))
        else:
            selected.append(F.col(name))
    return frame.select(*selected).withColumn("row", F.monotonically_increasing_id())


def backtest_on_spark(spark: SparkSession, data: str, out: str | Path, model_dir: Path, policy: Policy,
                      partitions: int | None = None, progress: Progress | None = None) -> SparkBacktestSummary:
    """Decide every complaint of `data` as `triage replay` would, and write decisions.jsonl and clusters.json."""
    from pyspark import SparkFiles
    from pyspark.sql import functions as F

    say = progress or (lambda _message: None)
    model = TriageModel.load(model_dir)  # on the driver too: the similarity window's size and model version
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    rows = read_rows(spark, data)
    duplicated = [r["complaint_id"] for r in
                  rows.groupBy("complaint_id").count().filter(F.col("count") > 1).limit(5).collect()]
    if duplicated:
        raise DataError(f"{data}: complaint_id repeated: {', '.join(map(str, duplicated))}")

    # 1. The model half, over partitions. The model directory travels with addFile (to every executor, once).
    directory = Path(model_dir).resolve()
    spark.sparkContext.addFile(str(directory), recursive=True)
    name = directory.name
    parallelism = partitions or spark.sparkContext.defaultParallelism * 4
    # Shuffles (per customer, the join, the sorts) as wide as the model stage, not Spark's default 200 tasks.
    spark.conf.set("spark.sql.shuffle.partitions", str(parallelism))
    predicted = rows.repartition(parallelism).mapInPandas(
        lambda frames: predict_batches(frames, SparkFiles.get(name), policy), PREDICTED).persist()
    total = predicted.count()
    problems = predicted.filter(F.col("error").isNotNull()).orderBy("row").limit(5).collect()
    if problems:
        raise DataError(f"{data}: " + "; ".join(f"complaint_id {p['complaint_id']}: {p['error']}" for p in problems))
    seconds["model"] = time.perf_counter() - started
    say(f"model: {total} complaints in {seconds['model']:.1f} s")

    # 2. One pass over the stream in time order on the driver, for what needs the whole stream: the repeat
    #    window's word rarity (the only global input of repeat detection) and group detection (which does not
    #    read the repeats: they are found per customer in 3. and joined in 4.).
    mark = time.perf_counter()
    sweep = RaritySweep(policy.similarity.repeat.window_days)
    similarity = TriageService.new_similarity(model, policy)
    similarity.repeats = RepeatsFoundElsewhere()  # type: ignore[assignment]
    snapshots, found = [], []
    for r in (predicted.select("row", "customer_id", "at", "terms", "complaint", "prediction", "vector", "tokens")
              .orderBy("at_us", "row").toLocalIterator()):
        snapshot = sweep.arrive(r["customer_id"], r["at"], frozenset(r["terms"]))
        if snapshot is not None:
            snapshots.append((r["row"], json.dumps(snapshot, ensure_ascii=False)))
        complaint = ComplaintIn.model_validate_json(r["complaint"])
        prediction = Prediction.model_validate_json(r["prediction"])
        assert complaint.received_at is not None and complaint.complaint_id is not None
        # As TriageService.decide calls it (replay's path), with the words read on the executors.
        result = similarity.observe(complaint.complaint_id, complaint.customer_id, complaint.received_at,
                                    prediction.masked_text, prediction.category,
                                    np.asarray(r["vector"], dtype=np.float32), channel=complaint.channel,
                                    product=complaint.product, raw_text=complaint.text, tokens=list(r["tokens"]))
        found.append((r["row"], result.model_dump_json(exclude={"repeat"})))
    seconds["stream"] = time.perf_counter() - mark
    say(f"rarity and groups: {len(found)} complaints in time order in {seconds['stream']:.1f} s")

    # 3. Repeats, per customer in parallel; 4. the policy, in parallel; the decisions written in time order.
    mark = time.perf_counter()
    config, zone = policy.similarity.repeat, policy.zone
    repeats = (predicted.select("row", "customer_id", "at_us", "complaint", "prediction", "vector", "tokens")
               .join(spark.createDataFrame(snapshots, "row long, snapshot string"), "row", "left")
               .groupBy("customer_id")
               .applyInPandas(lambda frame: repeats_of_customer(frame, config, zone), REPEATS))
    decided = (predicted.select("row", "at_us", "complaint", "prediction")
               .join(spark.createDataFrame(found, "row long, similarity string"), "row")
               .join(repeats, "row")
               .mapInPandas(lambda frames: decide_batches(frames, policy), DECIDED))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    decisions_path, clusters_path = out / "decisions.jsonl", out / "clusters.json"
    count = repeated = coordinated = 0
    with decisions_path.open("w", encoding="utf-8") as handle:
        for r in decided.orderBy("at_us", "row").toLocalIterator():
            handle.write(r["decision"] + "\n")
            decision = json.loads(r["decision"])
            count += 1
            repeated += decision["repeat"]["is_repeat"]
            coordinated += bool(decision["coordinated"]["linked"])
    alerts = similarity.alert_history()
    clusters_path.write_text(json.dumps(alerts, ensure_ascii=False, indent=2), encoding="utf-8")
    seconds["repeats_policy"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    predicted.unpersist()
    if count != total:
        raise RuntimeError(f"{total} complaints read, {count} decided")  # a lost row is a bug, never a result
    return SparkBacktestSummary(count, repeated, coordinated, len(alerts), decisions_path, clusters_path, seconds)


class RepeatsFoundElsewhere:
    """Stands in for the similarity engine's repeat detector on the driver: repeats are found per customer on
    the executors (their result replaces this placeholder before the policy reads it)."""

    def __init__(self) -> None:
        self.observed = 0

    def observe(self, *_args: Any, **_kwargs: Any) -> RepeatInfo:
        self.observed += 1
        return RepeatInfo()

    def __len__(self) -> int:
        return self.observed
