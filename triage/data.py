"""Read complaint tables (CSV, JSON Lines or Parquet) with errors that say exactly what is wrong and where."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


class DataError(ValueError):
    """A data file cannot be used as asked."""


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """Rows and the file line each came from (blank lines skipped, so counting rows would lie)."""
    records, lines = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
            lines.append(number)
    return pd.DataFrame.from_records(records), lines


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file (pandas reads it with pyarrow); times stored as timestamps become ISO 8601 text, as a CSV
    or JSONL file would carry them, so every format goes through the same validation."""
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow ({exc})") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from exc
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = [None if pd.isna(t) else t.isoformat() for t in frame[column]]
    return frame


def read_table(path: str | Path, required: list[str], filled_if_present: tuple[str, ...] = ()) -> pd.DataFrame:
    """Load a CSV, JSONL or Parquet file and check that the `required` columns exist and are never blank, and
    that the `filled_if_present` columns, where they exist, are never blank either."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{path}: cannot parse as CSV: {exc}") from exc
        # CSV cells may hold line breaks, so a file line number would mislead: name the data row.
        where = [f"data row {i + 1}" for i in range(len(frame))]
    elif suffix in {".jsonl", ".ndjson"}:
        frame, lines = _read_jsonl(path)
        where = [f"line {n}" for n in lines]
    elif suffix == ".parquet":
        frame = _read_parquet(path)
        where = [f"row {i + 1}" for i in range(len(frame))]
    else:
        raise DataError(f"{path}: unknown format {suffix!r}; use .csv, .jsonl or .parquet")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                        f"columns found: {', '.join(map(str, frame.columns)) or 'none'}")
    for column in [*required, *(c for c in filled_if_present if c in frame.columns)]:
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if blank.any():
            first = ", ".join(where[i] for i in list(blank.to_numpy().nonzero()[0][:5]))
            raise DataError(f"{path}: column {column!r} is empty in {int(blank.sum())} row(s): {first}")
    return frame
