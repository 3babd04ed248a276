"""`triage` command line. The library's own commands are here: predict, replay, demo, policy. The shells add
theirs through the `triage.commands` entry point (training: train, evaluate, promote, init; serving: serve, keys,
feedback), so the library never imports them: a shell whose extra is not installed still lists its commands,
and they say which extra to install.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from triage.config import get_settings
from triage.console import (
    ModelOption,
    PolicyOption,
    err,
    fail,
    input_error,
    load_model,
    load_policy_or_fail,
    progress_bars,
)
from triage.data import DataError, read_table
from triage.features.prepare import EmptyTextError
from triage.policy.cli import policy_app
from triage.schemas import ComplaintIn
from triage.service import TriageService
from triage.vocabulary import CHANNELS

app = typer.Typer(help="Triage Chinese financial-consumer complaints.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(policy_app, name="policy")


@app.command()
def predict(
    text: Annotated[str, typer.Argument(help="The complaint text.")],
    model: ModelOption = None,
    policy: PolicyOption = None,
    channel: Annotated[str | None, typer.Option(help=", ".join(CHANNELS))] = None,
    product: Annotated[str | None, typer.Option(help="信用卡, 消费贷, 房贷, 车贷, 储蓄, 理财, 网贷助贷, 催收")] = None,
    received_at: Annotated[datetime | None, typer.Option(help="ISO 8601; default now")] = None,
    amount: Annotated[float | None, typer.Option(help="Amount in dispute, 元")] = None,
) -> None:
    """Triage one complaint and print the whole decision as JSON."""
    service = TriageService(load_model(model), load_policy_or_fail(policy))
    try:
        complaint = ComplaintIn.model_validate({"text": text, "channel": channel, "product": product,
                                                "received_at": received_at, "amount": amount})
        decision = service.triage_one(complaint)
    except (EmptyTextError, ValidationError) as exc:
        fail(input_error(exc))
    print(decision.model_dump_json(indent=2))


@app.command()
def replay(
    data: Annotated[Path, typer.Option(help="Complaints, CSV or JSONL: complaint_id, customer_id, received_at, "
                                            "text (+ channel, product, amount).")],
    out: Annotated[Path, typer.Option(help="Directory for decisions.jsonl and clusters.json.")],
    model: ModelOption = None,
    policy: PolicyOption = None,
) -> None:
    """Backtest: feed past complaints in time order through model, similarity and policy (no HTTP)."""
    from triage.replay import read_complaints
    from triage.replay import replay as run_replay

    loaded, chosen_policy = load_model(model), load_policy_or_fail(policy)
    try:
        complaints = read_complaints(data, chosen_policy)
    except DataError as exc:
        fail(str(exc))
    service = TriageService(loaded, chosen_policy, TriageService.new_similarity(loaded, chosen_policy))
    started = time.perf_counter()
    with progress_bars() as bar:
        task = bar.add_task("replay", total=len(complaints))
        summary = run_replay(service, complaints, out, progress=lambda done, total: bar.update(task, completed=done))
    elapsed = time.perf_counter() - started
    err.print(f"{summary.complaints} complaints in {elapsed:.1f} s ({summary.complaints / max(elapsed, 1e-9):.0f}/s): "
              f"{summary.repeats} repeats, {summary.coordinated} linked copy-paste complaints, "
              f"{summary.alerts} group alert(s)")
    print(summary.decisions_path)
    print(summary.clusters_path)


@app.command()
def demo(model: ModelOption = None, count: int = 6) -> None:
    """Triage a few complaints of the bundled corpus and print the decisions (the main job until the
    API exists)."""
    settings = get_settings()
    loaded = load_model(model)
    frame = read_table(settings.corpus[0], ["text"])  # the stream: complaints with customers and times
    rows = frame.sample(n=min(count, len(frame)), random_state=7)
    service = TriageService(loaded, load_policy_or_fail(None))
    complaints = [ComplaintIn(**{k: row[k] for k in ("text", "complaint_id", "customer_id", "channel", "product",
                                                     "received_at") if k in row and row[k] is not None})
                  for _, row in rows.iterrows()]
    for decision in service.triage(complaints):
        print(json.dumps({
            "complaint_id": decision.complaint_id, "text": decision.masked_text[:60],
            "category": decision.category, "confidence": round(decision.category_confidence, 2),
            "tier": decision.tier.label, "reasons": [r.rule for r in decision.tier.reasons],
            "department": decision.department, "co_departments": decision.co_departments,
            "respond_by": decision.clocks.respond_by.isoformat(), "needs_review": decision.needs_review,
        }, ensure_ascii=False))


def add_shell_commands(target: typer.Typer) -> None:
    """The commands of the installed shells: each `triage.commands` entry point is a function that adds its
    shell's commands to the app."""
    for entry in sorted(entry_points(group="triage.commands"), key=lambda e: e.name):
        entry.load()(target)


add_shell_commands(app)


def main() -> None:  # pragma: no cover
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
