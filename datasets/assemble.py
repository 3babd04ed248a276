"""Assemble the project's corpus from the hand-written parts in `datasets/parts/`.

    python datasets/assemble.py

Two files come out, both rebuilt byte for byte (fixed seed):

- `complaints.jsonl` — the first 995 complaints (`parts/*.jsonl`), with their repeat series and group bursts:
  the stream the similarity tests, `triage replay` and the demos use.
  - Complaints are spread over 2025-09-01 … 2025-12-31 (the span covers the National Day holidays and
    make-up working days, which the deadline rules must handle).
  - A repeat series keeps one customer; its complaints come 2–20 days apart, in order.
  - A group burst gives each member its own customer and packs the burst into three days.
  - Some customers get a second, unrelated complaint, so "same customer" never implies "repeat".
- `real_style.jsonl` — 8,582 single complaints written to read like real posts (`parts/real/*.jsonl`, briefs in
  `parts/real/BRIEF.md` and `BOUNDARIES.md`; `parts/unused/` is not assembled), each from its own customer,
  spread over 2025-01-02 … 2025-08-31 so that the two files replay one after the other. The default model
  trains on both.

Every row is checked before anything is written: a category outside the default policy's taxonomy, a tier
outside red/yellow/green, an empty text or a text that appears twice fails the assembly, naming the part
file and line.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).parent
SEED = 20251122
ZONE = timezone(timedelta(hours=8))
START = datetime(2025, 9, 1, tzinfo=ZONE)
SPAN_DAYS = 122
UNRELATED_PAIRS = 30
REAL_STYLE_START = datetime(2025, 1, 2, tzinfo=ZONE)
REAL_STYLE_SPAN_DAYS = 241  # … 2025-08-31, before the first corpus complaint


class AssemblyError(ValueError):
    """A part holds a row that cannot go into the corpus; the message names the file and line."""


class Row(NamedTuple):
    source: str  # "real/x.jsonl:12" (under parts/), for error messages
    data: dict


def _vocabulary() -> tuple[set[str], set[str]]:
    """The taxonomy and the tiers, from their one definition (the default policy and triage.vocabulary)."""
    sys.path.insert(0, str(HERE.parent))
    from triage.policy import load_policy
    from triage.vocabulary import TIERS

    return set(load_policy().categories), set(TIERS)


def read_parts(paths: Iterable[Path], base: Path) -> list[Row]:
    rows = []
    for path in paths:
        for number, line in enumerate(path.open(encoding="utf-8"), 1):
            if not line.strip():
                continue
            where = f"{path.relative_to(base)}:{number}"
            try:
                rows.append(Row(where, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise AssemblyError(f"{where}: not JSON ({exc})") from None
    return rows


def check_rows(rows: list[Row], categories: set[str], tiers: set[str]) -> None:
    """Raise AssemblyError listing every row that cannot be trained on or replayed."""
    problems = []
    first_seen: dict[str, str] = {}
    for row in rows:
        text = row.data.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{row.source}: empty text")
            continue
        if row.data.get("category") not in categories:
            problems.append(f"{row.source}: category {row.data.get('category')!r} is not in the taxonomy "
                            f"({', '.join(sorted(categories))})")
        if row.data.get("tier") not in tiers:
            problems.append(f"{row.source}: tier {row.data.get('tier')!r} is not one of {', '.join(sorted(tiers))}")
        key = text.strip()
        if key in first_seen:
            problems.append(f"{row.source}: duplicate text (first at {first_seen[key]}): {key[:30]}")
        else:
            first_seen[key] = row.source
    if problems:
        raise AssemblyError(f"{len(problems)} problem(s):\n" + "\n".join(problems))


def _office_time(rng: random.Random, day: datetime, channel: str) -> datetime:
    """Mostly office hours, some evenings and nights, as complaints really arrive.

    Branch counters and letters are logged during opening hours only."""
    if channel in ("branch", "letter"):
        return day.replace(hour=rng.randint(9, 16), minute=rng.randrange(60), second=rng.randrange(60))
    weights = [1, 1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 10, 8, 10, 12, 12, 10, 8, 6, 6, 5, 4, 3, 2]
    hour = rng.choices(range(24), weights=weights)[0]
    return day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))


def _record(complaint_id: str, customer: str, when: datetime, row: dict) -> dict:
    return {
        "complaint_id": complaint_id,
        "customer_id": customer,
        "received_at": when.isoformat(),
        "channel": row["channel"],
        "product": row["product"],
        "text": row["text"],
        "category": row["category"],
        "tier": row["tier"],
        "amount": row["amount"],
        "series_id": row["series"],
        "series_seq": row["seq"],
        "new_facts": row["new_facts"],
        "burst_id": row["burst"],
    }


def assemble_stream(rows: list[dict]) -> list[dict]:
    """complaints.jsonl: ids, customers and times for the parts with series and bursts."""
    rng = random.Random(SEED)
    customers = (f"U{n:06d}" for n in rng.sample(range(100000, 999999), 5000))
    dated: list[tuple[datetime, str, dict]] = []

    series: dict[str, list[dict]] = {}
    bursts: dict[str, list[dict]] = {}
    singles: list[dict] = []
    for row in rows:
        if row["series"]:
            series.setdefault(row["series"], []).append(row)
        elif row["burst"]:
            bursts.setdefault(row["burst"], []).append(row)
        else:
            singles.append(row)

    for members in series.values():
        customer = next(customers)
        when = START + timedelta(days=rng.randrange(SPAN_DAYS - 60))
        for row in sorted(members, key=lambda r: r["seq"]):
            dated.append((_office_time(rng, when, row["channel"]), customer, row))
            when += timedelta(days=rng.randint(2, 20))

    for members in bursts.values():
        first_day = START + timedelta(days=rng.randrange(10, SPAN_DAYS - 10))
        for row in members:
            day = first_day + timedelta(days=rng.choice([0, 0, 1, 1, 1, 2, 2]))
            dated.append((_office_time(rng, day, row["channel"]), next(customers), row))

    rng.shuffle(singles)
    # The first UNRELATED_PAIRS*2 singles pair up: one customer, two complaints about different things.
    paired = singles[: UNRELATED_PAIRS * 2]
    paired_ids: set[int] = set()
    for a, b in zip(paired[0::2], paired[1::2], strict=False):
        if a["category"] == b["category"]:
            continue
        customer = next(customers)
        for row in (a, b):
            day = START + timedelta(days=rng.randrange(SPAN_DAYS))
            dated.append((_office_time(rng, day, row["channel"]), customer, row))
        paired_ids |= {id(a), id(b)}
    for row in singles:
        if id(row) not in paired_ids:
            day = START + timedelta(days=rng.randrange(SPAN_DAYS))
            dated.append((_office_time(rng, day, row["channel"]), next(customers), row))

    dated.sort(key=lambda item: item[0])
    return [_record(f"C{n:05d}", customer, when, row) for n, (when, customer, row) in enumerate(dated, 1)]


def assemble_real_style(rows: list[dict]) -> list[dict]:
    """real_style.jsonl: one customer a complaint, spread over the eight months before the stream."""
    rng = random.Random(SEED + 1)
    customers = [f"V{n:06d}" for n in rng.sample(range(100000, 999999), len(rows))]
    dated = [(_office_time(rng, REAL_STYLE_START + timedelta(days=rng.randrange(REAL_STYLE_SPAN_DAYS)),
                           row["channel"]), customers[i], row) for i, row in enumerate(rows)]
    dated.sort(key=lambda item: item[0])
    return [_record(f"R{n:05d}", customer, when, row) for n, (when, customer, row) in enumerate(dated, 1)]


def assemble(parts: Path = HERE / "parts") -> tuple[list[dict], list[dict]]:
    stream_rows = read_parts(sorted(parts.glob("*.jsonl")), parts)
    real_rows = read_parts(sorted((parts / "real").glob("*.jsonl")), parts)
    check_rows(stream_rows + real_rows, *_vocabulary())
    return assemble_stream([r.data for r in stream_rows]), assemble_real_style([r.data for r in real_rows])


def write_jsonl(records: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    try:
        stream, real_style = assemble()
    except AssemblyError as exc:
        sys.exit(f"assembly failed: {exc}")
    write_jsonl(stream, HERE / "complaints.jsonl")
    write_jsonl(real_style, HERE / "real_style.jsonl")
    print(f"wrote {len(stream)} complaints to {HERE / 'complaints.jsonl'} and {len(real_style)} to "
          f"{HERE / 'real_style.jsonl'}")


if __name__ == "__main__":
    main()
