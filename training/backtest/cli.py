"""`triage backtest`: replay past complaints through model, similarity and policy, in one process or on Spark."""

from __future__ import annotations

import os
import shutil
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from triage.config import get_settings
from triage.console import ModelOption, PolicyOption, err, fail, load_model, load_policy_or_fail, require_extra
from triage.data import DataError


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def backtest(
    data: Annotated[str, typer.Option(help="Complaints, CSV, JSONL or Parquet: complaint_id, customer_id, "
                                           "received_at, text (+ channel, product, amount). With --engine spark, "
                                           "any path Spark reads (hdfs://, s3a://, …).")],
    out: Annotated[Path, typer.Option(help="Directory for decisions.jsonl and clusters.json (on the driver).")],
    engine: Annotated[Engine, typer.Option(help="local: one process (`triage replay`); spark: a Spark cluster "
                                                "or local[N].")] = Engine.local,
    model: ModelOption = None,
    policy: PolicyOption = None,
    master: Annotated[str | None, typer.Option(help="Spark master URL (local[2], spark://host:7077, yarn, …); "
                                                    "default: spark-submit's, else local[*].")] = None,
    partitions: Annotated[int | None, typer.Option(min=1, help="Partitions of the model stage "
                                                               "(default: 4 × the cluster's cores).")] = None,
) -> None:
    """Backtest: the decisions and group alerts past complaints would have had. `--engine spark` gives the same
    decisions as `--engine local` (= `triage replay`), with the model and repeat detection in parallel."""
    if engine is Engine.local:
        if master or partitions:
            fail("--master and --partitions are for --engine spark")
        from triage.cli import replay

        replay(Path(data), out, model, policy)
        return
    require_extra("spark", "pyspark")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        fail("--engine spark needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless, "
             "or `make system-deps`)")
    from training.backtest.on_spark import backtest_on_spark, spark_session

    model_dir = model or get_settings().model_dir
    load_model(model_dir)  # a missing or incompatible model fails here, before Spark starts
    chosen_policy = load_policy_or_fail(policy)
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    running = SparkSession.getActiveSession()  # a notebook's or a test's session is used, and left running
    spark = spark_session(master)
    try:
        summary = backtest_on_spark(spark, data, out, model_dir, chosen_policy,
                                    partitions=partitions, progress=lambda message: err.print(message))
    except DataError as exc:
        fail(str(exc))
    finally:
        if running is None:
            spark.stop()
    elapsed = time.perf_counter() - started
    rate = summary.complaints / max(summary.seconds["total"], 1e-9)
    err.print(f"{summary.complaints} complaints in {elapsed:.1f} s ({rate:.0f}/s after Spark started; "
              + ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items() if k != "total")
              + f"): {summary.repeats} repeats, {summary.coordinated} linked copy-paste complaints, "
              f"{summary.alerts} group alert(s)")
    print(summary.decisions_path)
    print(summary.clusters_path)
