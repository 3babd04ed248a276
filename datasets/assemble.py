"""Assemble `datasets/complaints.jsonl` from the hand-written parts in `datasets/parts/`.

The parts hold the texts and their labels; this script gives every complaint an id, a customer and a
time of receipt, deterministically (fixed seed), so the corpus can be rebuilt byte for byte:

    python datasets/assemble.py

- Complaints are spread over 2025-09-01 … 2025-12-31 (the span covers the National Day holidays and
  make-up working days, which the deadline rules must handle).
- A repeat series keeps one customer; its complaints come 2–20 days apart, in order.
- A group burst gives each member its own customer and packs the burst into three days.
- Some customers get a second, unrelated complaint, so "same customer" never implies "repeat".
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).parent
SEED = 20251122
START = datetime(2025, 9, 1, tzinfo=timezone(timedelta(hours=8)))
SPAN_DAYS = 122
UNRELATED_PAIRS = 30


def _office_time(rng: random.Random, day: datetime, channel: str) -> datetime:
    """Mostly office hours, some evenings and nights, as complaints really arrive.

    Branch counters and letters are logged during opening hours only."""
    if channel in ("branch", "letter"):
        return day.replace(hour=rng.randint(9, 16), minute=rng.randrange(60), second=rng.randrange(60))
    hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 10, 8, 10, 12, 12, 10, 8, 6, 6, 5, 4, 3, 2])[0]
    return day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))


def assemble() -> list[dict]:
    rng = random.Random(SEED)
    rows = [json.loads(line) for part in sorted((HERE / "parts").glob("*.jsonl")) for line in part.open(encoding="utf-8") if line.strip()]
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
    for a, b in zip(paired[0::2], paired[1::2]):
        if a["category"] == b["category"]:
            continue
        customer = next(customers)
        for row in (a, b):
            day = START + timedelta(days=rng.randrange(SPAN_DAYS))
            dated.append((_office_time(rng, day, row["channel"]), customer, row))
        a["_paired"] = b["_paired"] = True
    for row in singles:
        if not row.get("_paired"):
            day = START + timedelta(days=rng.randrange(SPAN_DAYS))
            dated.append((_office_time(rng, day, row["channel"]), next(customers), row))

    dated.sort(key=lambda item: item[0])
    corpus = []
    for n, (when, customer, row) in enumerate(dated, 1):
        corpus.append(
            {
                "complaint_id": f"C{n:05d}",
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
        )
    return corpus


def main() -> None:
    corpus = assemble()
    with (HERE / "complaints.jsonl").open("w", encoding="utf-8") as out:
        for record in corpus:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(corpus)} complaints to {HERE / 'complaints.jsonl'}")


if __name__ == "__main__":
    main()
