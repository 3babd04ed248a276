"""Replay: feed past complaints, in time order, through model → similarity → policy, without HTTP.

This is how a model or a routing policy is backtested on last month's complaints: the decisions and the
group alerts it would have produced, written to a directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from triage.data import DataError, read_table
from triage.policy import Policy
from triage.schemas import ComplaintIn, table_amount, validation_problems
from triage.service import TriageService

REQUIRED = ["complaint_id", "customer_id", "received_at", "text"]
OPTIONAL = ["channel", "product", "amount"]
BATCH = 256  # complaints per model call; similarity and policy still go one complaint at a time

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class ReplaySummary:
    complaints: int
    repeats: int
    coordinated: int
    alerts: int
    decisions_path: Path
    clusters_path: Path


def read_complaints(path: str | Path, policy: Policy) -> list[ComplaintIn]:
    """Complaints of a CSV, JSONL or Parquet file in time order; every problem names its row and field."""
    frame = read_table(path, REQUIRED)
    duplicated = frame["complaint_id"][frame["complaint_id"].duplicated()].unique().tolist()
    if duplicated:
        raise DataError(f"{path}: complaint_id repeated: {', '.join(map(str, duplicated[:5]))}")
    complaints = []
    for position, (_, row) in enumerate(frame.iterrows()):
        try:
            complaints.append(complaint_from_row(row, policy))
        except ValidationError as exc:
            raise DataError(f"{path}: row {position + 1} (complaint_id {row['complaint_id']}): "
                            f"{validation_problems(exc)}") from None
    return sorted(complaints, key=lambda c: c.received_at)  # type: ignore[arg-type, return-value]


def complaint_from_row(row: Mapping[str, Any], policy: Policy) -> ComplaintIn:
    """One row of a complaints table as replay reads it (the Spark backtest reads its rows with it too): the
    required fields as text, the optional ones when filled, `received_at` aware (a naive time is the bank's
    local time). Raises pydantic's ValidationError."""
    record = {k: row[k] for k in REQUIRED}
    for k in OPTIONAL:
        if k in row and row[k] is not None and not pd.isna(row[k]) and str(row[k]).strip() != "":
            record[k] = row[k]
    complaint = ComplaintIn.model_validate({k: (str(v) if k != "amount" else table_amount(v))
                                            for k, v in record.items()})
    complaint.received_at = policy.localise(complaint.received_at)  # sortable: all aware
    return complaint


def replay(service: TriageService, complaints: list[ComplaintIn], out: str | Path,
           progress: Progress | None = None) -> ReplaySummary:
    """Decide every complaint in order and write `decisions.jsonl` and `clusters.json` under `out`."""
    if service.similarity is None:
        raise ValueError("replay needs a service with a similarity engine")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    decisions_path, clusters_path = out / "decisions.jsonl", out / "clusters.json"
    repeats = coordinated = 0
    with decisions_path.open("w", encoding="utf-8") as handle:
        for start in range(0, len(complaints), BATCH):
            for decision in service.triage(complaints[start:start + BATCH]):
                handle.write(decision.model_dump_json() + "\n")
                repeats += decision.repeat.is_repeat
                coordinated += bool(decision.coordinated.linked)
            if progress:
                progress(min(start + BATCH, len(complaints)), len(complaints))
    alerts = service.similarity.alert_history()
    clusters_path.write_text(json.dumps(alerts, ensure_ascii=False, indent=2), encoding="utf-8")
    return ReplaySummary(len(complaints), repeats, coordinated, len(alerts), decisions_path, clusters_path)
