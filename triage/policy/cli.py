"""`triage policy …`: check a policy file, print clocks, and diff two policies on real complaints."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from triage.policy.engine import PolicyEngine
from triage.policy.schema import PolicyError, load_policy
from triage.vocabulary import TIERS

policy_app = typer.Typer(help="Validate, inspect and compare routing policies.", no_args_is_help=True)
err = Console(stderr=True)


def _load(path: Path | None):
    try:
        return load_policy(path)
    except PolicyError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


@policy_app.command()
def check(file: Annotated[Path, typer.Argument(help="Policy file (TOML).")]) -> None:
    """Validate a policy file; exit non-zero and list every problem with its key."""
    policy = _load(file)
    print(f"{file}: valid — version {policy.version}, {len(policy.categories)} categories, "
          f"{len(policy.rules)} rules, time zone {policy.timezone}")


@policy_app.command()
def deadlines(
    received_at: Annotated[datetime, typer.Option(help="ISO 8601, e.g. 2025-09-30T16:00:00+08:00")],
    tier: Annotated[str, typer.Option(help=", ".join(TIERS))],
    category: Annotated[str | None, typer.Option(help="Category (complex ones decide in 30 days)")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: bundled)")] = None,
) -> None:
    """Print the clocks of a complaint received at RECEIVED_AT as JSON (+08:00)."""
    loaded = _load(policy)
    if tier not in loaded.tiers:
        err.print(f"[red]error:[/red] --tier must be one of {', '.join(TIERS)}; got {escape(repr(tier))}")
        raise typer.Exit(2)
    if category is not None and category not in loaded.categories:
        err.print(f"[red]error:[/red] unknown --category {escape(repr(category))}; the policy has: "
                  f"{', '.join(loaded.categories)}")
        raise typer.Exit(2)
    received_at = loaded.localise(received_at)
    policy_engine = PolicyEngine(loaded)
    calendar = policy_engine.calendar()
    clocks = policy_engine.clocks(received_at, tier, category, calendar)
    out = {key: value.astimezone(loaded.zone).isoformat() for key, value in clocks.model_dump().items()}
    if calendar.warnings():
        out["warnings"] = calendar.warnings()
    print(json.dumps(out, ensure_ascii=False, indent=2))


@policy_app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The policy in force.")],
    new: Annotated[Path, typer.Argument(help="The proposed policy.")],
    data: Annotated[Path, typer.Option(help="Complaints (CSV or JSONL with a text column).")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: TRIAGE_MODEL_DIR).")] = None,
    examples: Annotated[int, typer.Option(help="Examples shown per kind of move.")] = 2,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decide every complaint in DATA under both policies (one model pass) and show what moves."""
    from triage.config import get_settings
    from triage.data import read_table
    from triage.models import TriageModel
    from triage.schemas import ComplaintIn, table_amount

    old_engine, new_engine = PolicyEngine(_load(old)), PolicyEngine(_load(new))
    frame = read_table(data, ["text"])
    fields = [f for f in ("complaint_id", "customer_id", "channel", "product", "received_at", "amount")
              if f in frame.columns]
    # `row[f] == row[f]` drops NaN, which pandas puts in the gaps of a JSONL column.
    complaints = [
        ComplaintIn(text=row["text"], **{f: table_amount(row[f]) if f == "amount" else row[f]
                                         for f in fields if row[f] is not None and row[f] == row[f]})
        for row in frame.to_dict("records")
    ]
    predictions = TriageModel.load(model or get_settings().model_dir).predict([c.text for c in complaints])
    moves: dict[str, Counter] = {"department": Counter(), "tier": Counter(), "escalation": Counter(),
                                 "needs_review": Counter()}
    shown: dict[tuple[str, str], list[str]] = {}
    for complaint, prediction in zip(complaints, predictions, strict=True):
        a = old_engine.decide(complaint, prediction)
        b = new_engine.decide(complaint, prediction)
        changes = {
            "department": (a.department, b.department),
            "tier": (a.tier.label, b.tier.label),
            "escalation": (",".join(sorted(e.target for e in a.escalations)) or "-",
                           ",".join(sorted(e.target for e in b.escalations)) or "-"),
            "needs_review": (str(a.needs_review), str(b.needs_review)),
        }
        for kind, (before, after) in changes.items():
            if before != after:
                move = f"{before} → {after}"
                moves[kind][move] += 1
                bucket = shown.setdefault((kind, move), [])
                if len(bucket) < examples:
                    bucket.append(f"{complaint.complaint_id or '-'}: {prediction.masked_text[:40]}")
    changed = {k: sum(v.values()) for k, v in moves.items()}
    listed = {k: [{"move": m, "count": n, "examples": shown[(k, m)]} for m, n in v.most_common()]
              for k, v in moves.items()}
    old_version, new_version = old_engine.policy.version, new_engine.policy.version
    if as_json:
        print(json.dumps({"complaints": len(complaints), "old": old_version, "new": new_version,
                          "changed": changed, "moves": listed}, ensure_ascii=False, indent=2))
        return
    print(f"{len(complaints)} complaints decided under {old_version} and {new_version}")
    for kind, rows in listed.items():
        print(f"\n{kind}: {changed[kind]} changed")
        for row in rows:
            print(f"  {row['count']:>5}  {row['move']}")
            for example in row["examples"]:
                print(f"         e.g. {example}")
