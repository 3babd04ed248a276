"""The two plots of BENCHMARKS.md, from the JSON of `python -m bench`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def similarity_plot(result: dict, path: Path) -> Path:
    sizes = sorted(int(n) for n in result["similarity_p50_ms"])
    figure, axis = plt.subplots(figsize=(5, 3.2), dpi=120)
    axis.plot(sizes, [result["similarity_p50_ms"][str(n)] for n in sizes], "o-", label="observe p50")
    axis.plot(sizes, [result["similarity_p99_ms"][str(n)] for n in sizes], "s--", label="observe p99")
    axis.plot(sizes, [result["similarity_encode_p50_ms"][str(n)] for n in sizes], ":", color="grey",
              label="bare encode p50 (same run)")
    axis.set_xscale("log")
    axis.set_xlabel("complaints in the window")
    axis.set_ylabel("ms per complaint")
    axis.set_title("Similarity engine: cost per complaint")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def http_plot(result: dict, path: Path) -> Path:
    runs = sorted((r for r in result["http"] if r["endpoint"] == "single"), key=lambda r: r["connections"])
    connections = [r["connections"] for r in runs]
    figure, left = plt.subplots(figsize=(5, 3.2), dpi=120)
    left.plot(connections, [r["p50_ms"] for r in runs], "o-", label="p50")
    left.plot(connections, [r["p99_ms"] for r in runs], "s--", label="p99")
    left.axhline(150, color="tab:red", linewidth=0.8, linestyle=":", label="p99 target at 16")
    left.set_xscale("log", base=2)
    left.set_xlabel("concurrent clients (wrk connections)")
    left.set_ylabel("latency, ms")
    right = left.twinx()
    right.plot(connections, [r["rps"] for r in runs], "^:", color="tab:green", label="complaints/s")
    right.set_ylabel("complaints per second")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, fontsize=8, loc="upper left")
    left.set_title("POST /v1/complaints on loopback")
    left.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
