"""Backtests: `triage backtest --engine local|spark`.

`local` is `triage replay` (one process). `spark` runs the same decisions on a Spark cluster (or `local[N]`):
the model half in parallel over partitions, repeat detection in parallel per customer, group detection and the
policy on the driver in time order — the output equal to `triage replay` on the same data.

The library (`triage/`) never imports this package, and nothing here is imported until a backtest runs:
PySpark comes with the `spark` extra.
"""
