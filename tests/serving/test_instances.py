"""Many instances over one store decide as one service (issue 15).

Two apps over the same PostgreSQL (each its own process state: model, micro-batcher, similarity window, data
directory) take the complaints of one stream, interleaved or at the same time, and must decide exactly as one
instance would: every complaint's repeat and group detection sees every complaint accepted before it, whichever
instance took it, and the store's global order is the order the similarity layer saw. Identical concurrent
posts to both store one complaint. The kill -9 of one of two `triage serve` processes under load is in
`test_instances_kill.py`.

PostgreSQL comes from TRIAGE_TEST_DATABASE_URL (`.ci/postgres.sh`, as CI sets it); without it these tests skip.
The same two-app tests also run on one SQLite file (two engines over it: what `--workers N` does on one host).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from serving.app import create_app
from serving.config import ServiceSettings
from serving.model_source import LoadedModel
from serving.privacy import DataProtector
from serving.store import Store
from triage.features.prepare import prepare_text
from triage.policy import load_policy
from triage.service import TriageService

POSTGRES = os.environ.get("TRIAGE_TEST_DATABASE_URL")  # read at import, before the session fixture clears it
# Every instance of one deployment seals original texts and hashes matter references with the same keys
# (README, Deployment): a replica must read what another instance stored.
DATA_KEY = Fernet.generate_key().decode()
REFERENCE_KEY = "instances-test-reference-key"

PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]
FEE = "贵行信用卡中心本月起擅自将年费从200元上调到600元，事先没有任何通知，请立即退还多收的年费"
REPEATS = [  # (first complaint, the same customer again): each pair one matter
    ("我在贵行的信用卡账单里有一笔3000元的年费，我从来没有同意开通这个增值服务，要求退还年费并取消服务。",
     "上周投诉过信用卡被收取3000元年费的事情，至今没有任何答复，我从没同意开通增值服务，请尽快退还年费。"),
    ("你们的催收人员天天打电话骚扰我的家人和同事，还威胁要上门，严重影响我的生活",
     "催收人员还在每天给我家人和同事打电话骚扰，上次投诉后没有任何改变，还说要上门"),
    ("手机银行APP转账一直失败，提示系统繁忙，已经三天了",
     "手机银行转账还是失败，一直提示系统繁忙，上次反映后没有人处理"),
]
# What must be the same whichever instance decided a complaint (times of the decision itself aside).
COMPARED = ("category", "tier", "department", "needs_review", "repeat", "group", "coordinated")
SIMILARITY = ("repeat", "group", "coordinated")  # what the similarity layer found

needs_postgres = pytest.mark.skipif(POSTGRES is None, reason="needs PostgreSQL: set TRIAGE_TEST_DATABASE_URL "
                                                             "(.ci/postgres.sh prints one)")


def open_store(url: str) -> Store:
    return Store(url, synchronous="NORMAL", protector=DataProtector.from_keys(DATA_KEY, REFERENCE_KEY.encode(), None))


def _reset(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def shared_url(request, tmp_path) -> str:
    """One database for every instance of a test."""
    if request.param == "postgresql":
        if POSTGRES is None:
            pytest.skip("needs PostgreSQL: set TRIAGE_TEST_DATABASE_URL (.ci/postgres.sh prints one)")
        _reset(POSTGRES)
        return POSTGRES
    return f"sqlite:///{tmp_path / 'shared.db'}"


@contextmanager
def instances(url: str, n: int, model, work: Path
              ) -> Iterator[tuple[list[TestClient], dict[str, dict[str, str]]]]:
    """`n` whole apps over the database at `url`, each with its own data directory (the similarity snapshot is
    per host); returns their clients and the request headers of an intake and a lead key."""
    store = open_store(url)
    try:
        _, secret = store.create_key("instances test", "intake")
        _, lead = store.create_key("instances test lead", "lead")
    finally:
        store.close()
    with ExitStack() as stack:
        clients = []
        for number in range(n):
            settings = ServiceSettings(data_dir=work / f"instance-{number}", model_source="dir", database_url=url,
                                       session_secret="test-secret", sqlite_synchronous="NORMAL",
                                       data_key=DATA_KEY, matter_reference_key=REFERENCE_KEY)
            app = create_app(settings, model=LoadedModel(model, f"instance {number}"))
            clients.append(stack.enter_context(TestClient(app)))
        yield clients, {"intake": {"Authorization": f"Bearer {secret}"}, "lead": {"Authorization": f"Bearer {lead}"}}


def stream(now: datetime) -> list[dict]:
    """Ordinary traffic over forty days (what the group detector learns is usual), then three customers who come
    back on their matter, and a burst of one new matter from six customers within hours, interleaved."""
    start, span, n = now - timedelta(days=40), timedelta(days=38), 120
    bodies = [{"complaint_id": f"BG-{i:03d}", "customer_id": f"U-BG-{i}", "channel": "branch",
               "text": f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}",
               "received_at": (start + span * i / n).isoformat()} for i in range(n)]
    recent = []
    for k, (first, again) in enumerate(REPEATS):
        recent.append({"complaint_id": f"R-{k}-1", "customer_id": f"U-REPEAT-{k}", "channel": "app", "text": first,
                       "received_at": (now - timedelta(hours=30 - k)).isoformat()})
        recent.append({"complaint_id": f"R-{k}-2", "customer_id": f"U-REPEAT-{k}", "channel": "app", "text": again,
                       "received_at": (now - timedelta(hours=10 - k)).isoformat()})
    for i in range(6):
        recent.append({"complaint_id": f"G-{i}", "customer_id": f"U-GROUP-{i}", "channel": "hotline",
                       "product": "信用卡", "text": FEE + "。" * i,
                       "received_at": (now - timedelta(hours=6 - i)).isoformat()})
    recent.sort(key=lambda body: body["received_at"])
    return bodies + recent


def compared(decision: dict) -> dict:
    return {key: decision[key] for key in COMPARED}


def post(client: TestClient, body: dict, headers: dict[str, str]):
    """POST a complaint; a 429 (the intake's backpressure on a busy machine) is retried as a caller would."""
    for _ in range(100):
        response = client.post("/v1/complaints", json=body, headers=headers)
        if response.status_code != 429:
            return response
        time.sleep(0.2)
    return response


def post_in_turn(clients: list[TestClient], headers: dict[str, str], bodies: list[dict]) -> dict[str, dict]:
    """Each complaint to the next instance in turn, one after another; every one must be accepted."""
    decisions = {}
    for i, body in enumerate(bodies):
        response = post(clients[i % len(clients)], body, headers)
        assert response.status_code == 201, response.text
        decisions[body["complaint_id"]] = response.json()
    return decisions


def test_two_instances_decide_an_interleaved_stream_as_one(shared_url, trained_model, tmp_path):
    now = datetime.now(UTC)
    bodies = stream(now)
    with instances(f"sqlite:///{tmp_path / 'alone.db'}", 1, trained_model, tmp_path / "alone") as (one, keys):
        alone = post_in_turn(one, keys["intake"], bodies)
        alone_clusters = {c["cluster_id"]: c for c in one[0].get("/v1/clusters", headers=keys["lead"]).json()["active"]}
    with instances(shared_url, 2, trained_model, tmp_path / "pair") as (pair, keys):
        together = post_in_turn(pair, keys["intake"], bodies)
        clusters = [client.get("/v1/clusters", headers=keys["lead"]) for client in pair]

    # the premise: the stream has repeats and a group alert for one instance to find
    for k in range(len(REPEATS)):
        assert alone[f"R-{k}-2"]["repeat"]["is_repeat"], alone[f"R-{k}-2"]["repeat"]
        assert alone[f"R-{k}-2"]["repeat"]["matter_id"] == f"R-{k}-1"
    assert alone["G-5"]["group"]["alert"] is not None, alone["G-5"]["group"]
    # every R-k-2 went to the other instance than its R-k-1 whenever they alternate; the burst alternates too
    assert {id_: compared(d) for id_, d in together.items()} == {id_: compared(d) for id_, d in alone.items()}
    # both instances' windows hold the whole burst as one alerted cluster, whichever took its complaints
    cluster_id = alone["G-5"]["group"]["cluster_id"]
    for response in clusters:
        assert response.status_code == 200, response.text
        active = {c["cluster_id"]: c for c in response.json()["active"]}
        assert active[cluster_id]["members"] == alone_clusters[cluster_id]["members"], active[cluster_id]
        assert {f"G-{i}" for i in range(6)} <= set(active[cluster_id]["members"])
        assert active[cluster_id]["alert"] == alone["G-5"]["group"]["alert"]


def test_concurrent_instances_store_the_order_their_windows_saw(shared_url, trained_model, tmp_path):
    """Four posters on two instances at once: whatever the interleaving, replaying the store's global order
    through one similarity layer finds again every repeat, cluster and campaign the instances answered with,
    and the order is numbered 1..n without a gap."""
    now = datetime.now(UTC)
    bodies = stream(now)
    background, recent = bodies[:60], bodies[120:]  # half the background keeps it short; the rest is the point
    with instances(shared_url, 2, trained_model, tmp_path / "pair") as (pair, keys):
        headers = keys["intake"]
        post_in_turn(pair, headers, background)
        answers: dict[str, dict] = {}
        failures: list[str] = []
        start = threading.Barrier(4)

        def poster(number: int) -> None:
            start.wait()
            for body in recent[number::4]:
                response = post(pair[number % 2], body, headers)
                if response.status_code != 201:
                    failures.append(response.text)
                answers[body["complaint_id"]] = response.json()

        threads = [threading.Thread(target=poster, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures

    store = open_store(shared_url)
    try:
        # the global order, each complaint with the topic vector and category it was decided with
        stored = list(store.window(None, 0))
        assert store.last_seq() == len(stored) == len(background) + len(recent)
        with store.session() as session:
            numbers = list(session.scalars(text("SELECT global_seq FROM complaints ORDER BY global_seq")))
        assert numbers == list(range(1, len(stored) + 1))
    finally:
        store.close()
    policy = load_policy()
    similarity = TriageService.new_similarity(trained_model, policy)
    replayed = {}
    for row in stored:  # one similarity layer, in the store's order
        assert row.vector is not None
        found = similarity.observe(row.complaint_id, row.customer_id, row.received_at, prepare_text(row.text).text,
                                   row.category, row.vector, channel=row.channel, product=row.product,
                                   raw_text=row.text)
        replayed[row.complaint_id] = found.model_dump(mode="json")
    for complaint_id, answer in answers.items():
        assert {key: answer[key] for key in SIMILARITY} == replayed[complaint_id], (
            complaint_id, [row.complaint_id for row in stored[len(background):]])


def test_identical_concurrent_posts_to_both_instances_store_one_complaint(shared_url, trained_model, tmp_path):
    now = datetime.now(UTC)
    with instances(shared_url, 2, trained_model, tmp_path / "pair") as (pair, keys):
        headers = keys["intake"]
        for k in range(8):
            body = {"complaint_id": f"SAME-{k}", "customer_id": f"U-SAME-{k}", "channel": "app",
                    "text": REPEATS[k % 3][0], "received_at": now.isoformat()}
            responses: list = [None, None]
            start = threading.Barrier(2)

            def post_at_once(number: int, body: dict, start: threading.Barrier, responses: list) -> None:
                start.wait()
                responses[number] = post(pair[number], body, headers)

            threads = [threading.Thread(target=post_at_once, args=(n, body, start, responses)) for n in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200, 201], [r.text for r in responses]  # one decided it, the other found it
            assert responses[0].json() == responses[1].json()
    store = open_store(shared_url)
    try:
        assert store.last_seq() == 8
        assert all(store.find(f"SAME-{k}") is not None for k in range(8))
    finally:
        store.close()
