"""Team-lead feedback as training data: read the rows `triage feedback export` writes, version them,
and merge them into the training table with a weight.

A feedback row is one complaint a lead looked at: `category` (and `tier`) are what the lead confirmed
or corrected. When its text is already in the training data, the lead's labels replace that row's
labels (one row per complaint, not a contradicting duplicate); otherwise the row is added. Either way
the row is weighted `weight` against 1.0 for the rest of the training data.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from triage.data import DataError, read_table
from triage.vocabulary import REVIEW_ACTIONS as ACTIONS
from triage.vocabulary import TIERS

# The fields of an exported row; the version hashes these (whichever are present) and nothing else.
FEEDBACK_FIELDS = ("complaint_id", "text", "category", "tier", "department", "action", "original_category",
                   "original_tier", "reviewer", "reviewed_at")
LINE = "source_line"  # where each row came from ("line 7" or "data row 7"), for error messages
MERGED = "feedback_merge"  # in the merged frame: "" (training row), "replaced" or "added"


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _locations(path: Path, rows: int) -> list[str]:
    """Where each row of `read_table`'s frame came from, as read_table itself counts them."""
    if path.suffix.lower() == ".csv":
        return [f"data row {i + 1}" for i in range(rows)]
    with path.open(encoding="utf-8") as handle:
        lines = [f"line {n}" for n, line in enumerate(handle, 1) if line.strip()]
    if len(lines) != rows:  # cannot happen while read_table skips exactly the blank lines
        raise DataError(f"{path}: read {rows} rows from {len(lines)} non-blank lines")
    return lines


def read_feedback(path: str | Path) -> pd.DataFrame:
    """Load exported feedback (JSONL, or CSV with the same columns) and check it.

    `text` and `category` are required and must be non-empty strings; `tier`, when a row has one, is
    red, yellow or green; `action`, when a row has one, is confirm or correct. Errors name the file,
    the line and the field. The frame keeps the file's columns plus `source_line`."""
    path = Path(path)
    frame = read_table(path, ["text", "category"])
    frame = frame.reset_index(drop=True)
    where = _locations(path, len(frame))

    def fail(row: int, field: str, problem: str) -> None:
        raise DataError(f"{path}: {where[row]}: field {field!r} {problem}")

    for row, record in enumerate(frame.to_dict("records")):
        for field in ("text", "category"):
            value = record[field]
            if not isinstance(value, str):
                fail(row, field, f"must be a string, got {type(value).__name__} {value!r}")
        tier = record.get("tier")
        if not _blank(tier) and tier not in TIERS:
            fail(row, "tier", f"is {tier!r}; expected one of {', '.join(TIERS)} (or no tier)")
        action = record.get("action")
        if not _blank(action) and action not in ACTIONS:
            fail(row, "action", f"is {action!r}; expected one of {', '.join(ACTIONS)}")
    if "tier" in frame.columns:
        frame["tier"] = pd.Series([None if _blank(t) else t for t in frame["tier"]], index=frame.index, dtype=object)
    frame[LINE] = where
    return frame


def _canonical(value: object) -> str | None:
    return None if _blank(value) else str(value)


def feedback_version(frame: pd.DataFrame) -> str:
    """A short, stable name for this feedback: "fb-<12 hex of SHA-256>-n<rows>".

    The hash covers the exported fields of every row, in file order (a later review of the same
    complaint wins, so order is content), and ignores where the rows sat in the file, key order,
    and extra columns."""
    fields = [f for f in FEEDBACK_FIELDS if f in frame.columns]
    digest = hashlib.sha256()
    for record in frame[fields].to_dict("records"):
        canonical = {f: _canonical(record[f]) for f in fields}
        digest.update(json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode())
        digest.update(b"\n")
    return f"fb-{digest.hexdigest()[:12]}-n{len(frame)}"


def _latest_per_text(feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per complaint text: the latest review (by `reviewed_at` when given, else file order)."""
    rows = feedback.assign(_key=feedback["text"].str.strip(), _order=np.arange(len(feedback)))
    if "reviewed_at" in rows.columns:
        when = pd.to_datetime(rows["reviewed_at"], utc=True, errors="coerce", format="ISO8601")
        rows = rows.assign(_when=when).sort_values(["_when", "_order"], na_position="first", kind="stable")
    rows = rows.drop_duplicates("_key", keep="last").sort_values("_order", kind="stable")
    return rows.drop(columns=[c for c in ("_order", "_when") if c in rows.columns])


def merge_feedback(
    train_frame: pd.DataFrame,
    feedback_frame: pd.DataFrame,
    weight: float,
    *,
    text_column: str = "text",
    label_column: str = "category",
    tier_column: str = "tier",
) -> tuple[pd.DataFrame, np.ndarray]:
    """The training rows with the feedback merged in, and one sample weight per row.

    A feedback row whose text (ignoring surrounding whitespace) equals a training row's text replaces
    that row's label — and its tier, when both have one — and gives it weight `weight`; other feedback
    rows are appended with weight `weight`; untouched training rows weigh 1.0. Several reviews of one
    text: the latest counts. The training frame's column names are `text_column` etc.; the feedback's
    are `text`, `category`, `tier`. Column `feedback_merge` says what happened to each row.

    Raises DataError for a feedback category the training data does not have (the model could not
    learn it from a handful of rows, and the policy would not know where to route it), and for a new
    feedback row without a tier when the training data has tiers (the tier head needs one per row).
    """
    if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
        raise ValueError(f"feedback weight must be a positive number, got {weight!r}")
    for column in (text_column, label_column):
        if column not in train_frame.columns:
            raise DataError(f"training data has no column {column!r}")
    where = (list(feedback_frame[LINE]) if LINE in feedback_frame.columns
             else [f"feedback row {i + 1}" for i in range(len(feedback_frame))])

    known = set(train_frame[label_column].astype(str))
    unknown = [(w, c) for w, c in zip(where, feedback_frame["category"].astype(str), strict=True) if c not in known]
    if unknown:
        named = sorted({c for _, c in unknown})
        raise DataError(f"feedback: unknown category {', '.join(map(repr, named))} in {len(unknown)} row(s) "
                        f"({', '.join(w for w, _ in unknown[:5])}); the training data has: "
                        f"{', '.join(sorted(known))}")

    with_tiers = tier_column in train_frame.columns
    feedback = _latest_per_text(feedback_frame.reset_index(drop=True).assign(**{LINE: where}))
    tiers = feedback["tier"] if "tier" in feedback.columns else pd.Series([None] * len(feedback),
                                                                           index=feedback.index)

    merged = train_frame.copy().reset_index(drop=True)
    merged[MERGED] = ""
    weights = np.ones(len(merged), dtype=np.float64)
    keys = merged[text_column].astype(str).str.strip()
    added = []
    for (_, row), tier in zip(feedback.iterrows(), tiers, strict=True):
        match = (keys == row["_key"]).to_numpy()
        if match.any():
            merged.loc[match, label_column] = row["category"]
            if with_tiers and not _blank(tier):
                merged.loc[match, tier_column] = tier
            merged.loc[match, MERGED] = "replaced"
            weights[match] = weight
            continue
        if with_tiers and _blank(tier):
            raise DataError(f"feedback: {row[LINE]}: field 'tier' is missing, and the training data has tiers "
                            f"(every training row needs one); add the tier or train without a tier column")
        new = {text_column: row["text"], label_column: row["category"], MERGED: "added"}
        if with_tiers:
            new[tier_column] = tier
        added.append(new)
    if added:
        merged = pd.concat([merged, pd.DataFrame(added)], ignore_index=True)
        weights = np.concatenate([weights, np.full(len(added), weight, dtype=np.float64)])
    return merged, weights
