"""`python -m bench`: the whole benchmark suite in one run (was `triage bench`; bench/ is not part of the installed
packages, so it runs from a source checkout).

    .venv/bin/python -m bench --quick --json
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from triage.config import get_settings
from triage.console import ModelOption, err, fail


def bench(
    quick: Annotated[bool, typer.Option(help="Shorter runs, windows up to 100k, no training (< 3 min).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: ModelOption = None,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON here.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write the similarity and HTTP plots (PNG) here.")] = None,
) -> None:
    """Latency, throughput, similarity at scale, cold start and memory, each beside the bare encode cost
    measured in the same run (needs wrk for the HTTP part: `apt-get install wrk`).

    Run from the repository root (bench/ is not installed with the package): python -m bench [--quick] [--json]"""
    from bench.suite import run, statistics_line

    model_dir = model or get_settings().model_dir
    if not (model_dir / "meta.json").exists():
        fail(f"no model in {model_dir}: run `triage init` or pass --model DIR")
    result = run(model_dir, quick=quick, progress=lambda message: err.print(message))
    result["date"] = datetime.now().astimezone().isoformat(timespec="seconds")
    text = json.dumps(result, ensure_ascii=False)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    if plots is not None:
        from bench.plots import http_plot, similarity_plot

        plots.mkdir(parents=True, exist_ok=True)
        similarity_plot(result, plots / "similarity-latency.png")
        if result["http"]:
            http_plot(result, plots / "http-latency.png")
    if as_json:
        print(text)
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        err.print(statistics_line(result))


if __name__ == "__main__":  # pragma: no cover
    typer.run(bench)
