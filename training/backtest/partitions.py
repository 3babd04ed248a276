"""What a backtest's Spark executors run, in plain Python and pandas (no PySpark import: the driver composes
these with Spark in `on_spark.py`, and the tests can call them directly).

1. `predict_batches` (mapInPandas): read each row as `triage replay` does, run the model in batches, and
   compute what the similarity layer reads of a text (its words, its matter terms). The model is loaded once
   per Python worker and kept (`_MODELS`): Spark reuses its workers across tasks.
2. `repeats_of_customer` (groupBy customer + applyInPandas): the customer's complaints in time order through
   the library's own `RepeatDetector`. Each customer's history is independent, except for one thing — how rare
   a word is, counted over the whole window's customers (`WordRarity`, the idf of the matter score). That part
   is global, so the driver sweeps the stream once (`RaritySweep`, set operations only) and hands each complaint
   the counts the window had when it arrived; the detector here reads them instead of counting itself.
3. `decide_batches` (mapInPandas): the policy, once the driver's group detection (in time order) and the
   repeats are known.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from triage.features.tokenizer import tokenize
from triage.models import TriageModel
from triage.policy import Policy, PolicyEngine
from triage.policy.schema import RepeatDetection
from triage.replay import BATCH, REQUIRED, complaint_from_row
from triage.schemas import ComplaintIn, Prediction, RepeatInfo, SimilarityResult, validation_problems
from triage.similarity.matter import WordRarity, matter_keys
from triage.similarity.repeat import RepeatDetector, repeat_terms

# Columns of the model stage's output (a Spark DDL schema, in this order).
PREDICTED = ("row long, complaint_id string, customer_id string, at_us long, at double, complaint string, "
             "prediction string, vector array<float>, tokens array<string>, terms array<string>, error string")
COLUMNS = [column.split()[0] for column in PREDICTED.split(", ")]
REPEATS = "row long, repeat string"
DECIDED = "row long, at_us long, decision string"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MODELS: dict[str, TriageModel] = {}  # model directory → the model, loaded once per Python worker


def model_at(path: str) -> TriageModel:
    model = _MODELS.get(path)
    if model is None:
        model = _MODELS[path] = TriageModel.load(path)
        model.warm()
    return model


def _blank(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value)) or str(value).strip() == ""


def predict_batches(frames: Iterator[pd.DataFrame], model_dir: str, policy: Policy) -> Iterator[pd.DataFrame]:
    """Rows in (with their file order in `row`), one output row each: the complaint and its prediction as
    JSON, the topic vector, the words and matter terms — or the problem that makes the row unusable."""
    model = model_at(model_dir)
    for frame in frames:
        out: list[dict[str, Any]] = []
        valid: list[tuple[int, ComplaintIn]] = []
        for record in frame.to_dict("records"):
            row = int(record["row"])
            blank = [k for k in REQUIRED if _blank(record.get(k))]
            try:
                if blank:
                    raise ValueError(f"{', '.join(blank)} empty")
                valid.append((row, complaint_from_row(record, policy)))
            except (ValueError, ValidationError) as exc:
                problem = validation_problems(exc) if isinstance(exc, ValidationError) else str(exc)
                out.append(dict.fromkeys(COLUMNS) | {  # every column None, not NaN: Arrow refuses NaN arrays
                    "row": row, "complaint_id": None if _blank(record.get("complaint_id"))
                    else str(record["complaint_id"]), "error": problem})
        for start in range(0, len(valid), BATCH):
            chunk = valid[start:start + BATCH]
            predictions, vectors = model.predict_with_topics([c.text for _, c in chunk])
            assert vectors is not None
            for (row, complaint), prediction, vector in zip(chunk, predictions, vectors, strict=True):
                out.append(_predicted(row, complaint, prediction, vector))
        batch = pd.DataFrame(out, columns=COLUMNS)
        batch["at_us"] = batch["at_us"].astype("Int64")  # an unusable row has none: NaN would make it a float
        yield batch


def _predicted(row: int, complaint: ComplaintIn, prediction: Prediction, vector: np.ndarray) -> dict[str, Any]:
    received = complaint.received_at
    assert received is not None and received.tzinfo is not None  # complaint_from_row localised it
    # What SimilarityEngine.observe and RepeatDetector.observe read of the masked text.
    tokens = tokenize(prediction.masked_text)
    words = " ".join(tokens)
    terms = repeat_terms(words, matter_keys(prediction.masked_text).names)  # names are all the terms need
    return {"row": row, "complaint_id": complaint.complaint_id, "customer_id": complaint.customer_id,
            "at_us": (received - _EPOCH) // _MICROSECOND, "at": received.timestamp(),
            "complaint": complaint.model_dump_json(), "prediction": prediction.model_dump_json(),
            "vector": vector.astype(np.float32), "tokens": tokens, "terms": sorted(terms), "error": None}



def decide_batches(frames: Iterator[pd.DataFrame], policy: Policy) -> Iterator[pd.DataFrame]:
    """The policy, in parallel: each complaint with its prediction and what the similarity layer found (columns
    row, at_us, complaint, prediction, similarity: groups and copy-paste, repeat: its repeat) → (row, at_us,
    Decision JSON). The policy is a pure function of these; only the similarity layer needed the stream's order."""
    engine = PolicyEngine(policy)
    for frame in frames:
        decisions = []
        for item in frame.itertuples(index=False):
            complaint = ComplaintIn.model_validate_json(item.complaint)
            similarity = SimilarityResult.model_validate({**json.loads(item.similarity),
                                                          "repeat": json.loads(item.repeat)})
            decision = engine.decide(complaint, Prediction.model_validate_json(item.prediction), None,
                                     complaint.received_at, similarity)
            decisions.append(decision.model_dump_json())
        yield pd.DataFrame({"row": frame["row"], "at_us": frame["at_us"], "decision": decisions})


# ---- repeats, per customer ---------------------------------------------------------------------------------
class _ArrivalRarity(WordRarity):
    """The window's word counts as the whole stream had them when the complaint arrived (the driver's sweep),
    for a detector that sees one customer: its own adding and expiring are ignored."""

    def __init__(self) -> None:
        super().__init__()
        self._customers = 0

    @property
    def customers(self) -> int:
        return self._customers

    @customers.setter
    def customers(self, value: int) -> None:
        pass  # the detector sets its own customer count (1): the sweep's count of the window stands

    def add(self, words: Any) -> None:
        pass

    def remove(self, words: Any) -> None:
        pass

    def arrive(self, snapshot: dict[str, Any]) -> None:
        self.customers_using = Counter(snapshot["using"])
        self._customers = snapshot["customers"]


def repeats_of_customer(frame: pd.DataFrame, config: RepeatDetection, zone: tzinfo) -> pd.DataFrame:
    """One customer's complaints (columns row, at_us, complaint, prediction, vector, tokens, snapshot) →
    (row, RepeatInfo JSON), by the library's RepeatDetector in the stream's order."""
    frame = frame.sort_values(["at_us", "row"], kind="stable")
    if len(frame) == 1:  # no earlier complaint: what the detector says of a first complaint
        only = frame.iloc[0]
        complaint_id = json.loads(only["complaint"])["complaint_id"]
        first = RepeatInfo(matter_id=complaint_id).model_dump_json()
        return pd.DataFrame({"row": [int(only["row"])], "repeat": [first]})
    rarity = _ArrivalRarity()  # the window's rarity comes from the driver's sweep (see the module docstring)
    detector = RepeatDetector(config, _rarity=rarity)
    rows, infos = [], []
    for item in frame.itertuples(index=False):
        complaint = ComplaintIn.model_validate_json(item.complaint)
        prediction = Prediction.model_validate_json(item.prediction)
        rarity.arrive(json.loads(item.snapshot) if isinstance(item.snapshot, str) else {"using": {}, "customers": 0})
        assert complaint.received_at is not None
        # in the bank's zone, as SimilarityEngine.observe reads it
        info = detector.observe(complaint.complaint_id or "", complaint.customer_id,
                                complaint.received_at.astimezone(zone),
                                prediction.masked_text, " ".join(item.tokens), prediction.category,
                                np.asarray(item.vector, dtype=np.float32), complaint.text)
        rows.append(int(item.row))
        infos.append(info.model_dump_json())
    return pd.DataFrame({"row": rows, "repeat": infos})


class RaritySweep:
    """The repeat window's word rarity over the whole stream, complaint by complaint in arrival order: each
    customer's distinct terms over their complaints of the last `window_days`, as RepeatDetector keeps them
    (its `_expire` and the `add` before scoring). `arrive` returns the counts a customer's detector reads for
    this complaint — its terms and its history's — or None when it has no earlier complaint to compare with."""

    def __init__(self, window_days: float):
        self.window_s = window_days * 86400
        self.rarity = WordRarity()
        self.histories: dict[str, list[tuple[float, frozenset[str]]]] = {}
        self.expiry: deque[tuple[float, str]] = deque()

    def arrive(self, customer_id: str, at: float, terms: frozenset[str]) -> dict[str, Any] | None:
        self._expire(at)
        history = self.histories.setdefault(customer_id, [])
        held = frozenset().union(*(t for _, t in history)) if history else frozenset()
        self.rarity.add(terms - held)
        snapshot = None
        if any(earlier <= at for earlier, _ in history):
            using = self.rarity.customers_using
            snapshot = {"customers": len(self.histories), "using": {w: using[w] for w in terms | held}}
        history.append((at, terms))
        self.expiry.append((at, customer_id))
        return snapshot

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self.expiry and self.expiry[0][0] < horizon:
            _, customer = self.expiry.popleft()
            history = self.histories.get(customer, [])
            kept = [e for e in history if e[0] >= horizon]
            if len(kept) < len(history):
                gone = frozenset().union(*(t for a, t in history if a < horizon))
                self.rarity.remove(gone - frozenset().union(*(t for _, t in kept)) if kept else gone)
            if kept:
                self.histories[customer] = kept
            else:
                self.histories.pop(customer, None)
