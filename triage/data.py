"""Read complaint tables (CSV or JSON Lines) with errors that say exactly what is wrong."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


class DataError(ValueError):
    """A data file cannot be used as asked."""


def read_table(path: str | Path, required: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix in {".jsonl", ".ndjson", ".json"}:
            frame = pd.read_json(path, lines=suffix != ".json", dtype=False)
        else:
            raise DataError(f"{path}: unknown format {suffix!r}; use .csv or .jsonl")
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot parse as {suffix[1:]}: {exc}") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                        f"columns found: {', '.join(map(str, frame.columns))}")
    for column in required:
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if blank.any():
            rows = ", ".join(str(i + 2 if suffix == ".csv" else i + 1) for i in frame.index[blank][:5])
            raise DataError(f"{path}: column {column!r} is empty in {int(blank.sum())} row(s), "
                            f"first at line(s) {rows}")
    return frame
