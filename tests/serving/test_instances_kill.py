"""One of two instances is killed under load (issue 15): two `triage serve` processes over one PostgreSQL take
complaints from clients that fail over to the other instance, as a load balancer would; one is SIGKILLed.

The other keeps accepting; every complaint that got a 2xx is in the store with the decision it was answered with;
the global order is numbered 1..n without a gap; the killed instance, started again, catches its similarity window
up on what the survivor took meanwhile (a customer's next complaint sent to it is a repeat of one the survivor
accepted while it was down).

PostgreSQL comes from TRIAGE_TEST_DATABASE_URL (`.ci/postgres.sh`, as CI sets it); without it this test skips.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from serving.privacy import DataProtector
from serving.store import Store

POSTGRES = os.environ.get("TRIAGE_TEST_DATABASE_URL")  # read at import, before the session fixture clears it
pytestmark = [pytest.mark.slow,  # three starts of the real service
              pytest.mark.skipif(POSTGRES is None, reason="needs PostgreSQL: set TRIAGE_TEST_DATABASE_URL")]

# One deployment, one set of keys (README, Deployment): each instance reads what the other sealed.
DATA_KEY = Fernet.generate_key().decode()
REFERENCE_KEY = "kill-test-reference-key"
READY_TIMEOUT = 120.0
ACCEPTED_BEFORE_KILL = 20
ACCEPTED_WHILE_DOWN = 20
TEXTS = ["手机银行APP转账一直失败，提示系统繁忙", "信用卡年费从200元上调到600元，事先没有任何通知，请退还",
         "理财产品到期后迟迟不能赎回，客户经理一直推脱", "网点排队两个小时没人办理业务，工作人员态度很差",
         "贷款提前还款被收取高额违约金，合同里没有写明"]
FIRST = "我在贵行的信用卡账单里有一笔3000元的年费，我从来没有同意开通这个增值服务，要求退还年费并取消服务。"
AGAIN = "上周投诉过信用卡被收取3000元年费的事情，至今没有任何答复，我从没同意开通增值服务，请尽快退还年费。"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Instance:
    """`triage serve` as a subprocess in its own process group, over the shared database."""

    def __init__(self, name: str, model_dir: Path, work: Path):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.command = [sys.executable, "-m", "triage.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                        "--model", str(model_dir), "--data-dir", str(work / f"data-{name}")]
        self.process: subprocess.Popen | None = None
        self.logs: list[Path] = []

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        env.update(TRIAGE_DATABASE_URL=str(POSTGRES), TRIAGE_DATA_KEY=DATA_KEY,
                   TRIAGE_MATTER_REFERENCE_KEY=REFERENCE_KEY, PYTHONUNBUFFERED="1")
        log = self.work / f"{self.name}-{len(self.logs)}.stderr"
        self.logs.append(log)
        with log.open("wb") as handle:
            self.process = subprocess.Popen(self.command, stdout=handle, stderr=handle, stdin=subprocess.DEVNULL,
                                            env=env, cwd=self.work, start_new_session=True)

    def wait_ready(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - started < READY_TIMEOUT:
                assert self.process is not None and self.process.poll() is None, self.tail()
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready within {READY_TIMEOUT:.0f} s\n{self.tail()}")

    def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(f"---- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
                         for p in self.logs if p.exists())


@pytest.fixture
def pair(model_dir, tmp_path):
    engine = create_engine(str(POSTGRES))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    store = Store(str(POSTGRES), protector=DataProtector.from_keys(DATA_KEY, REFERENCE_KEY.encode(), None))
    _, secret = store.create_key("kill test", "intake")
    store.close()
    instances = [Instance(name, model_dir, tmp_path) for name in ("a", "b")]
    try:
        for instance in instances:
            instance.start()
        for instance in instances:
            instance.wait_ready()
        yield instances, {"Authorization": f"Bearer {secret}"}
    finally:
        for instance in instances:
            if instance.alive():
                instance.kill()


class Clients:
    """Posters that send each complaint to an instance in turn and, when it cannot answer (a dropped connection,
    a refused one, a 429 of its backpressure), send the same complaint — same id, same content — to the other:
    what a load balancer does."""

    def __init__(self, instances: list[Instance], headers: dict[str, str]):
        self.instances = instances
        self.headers = headers
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.accepted: dict[str, dict] = {}  # complaint id -> the decision it was answered with
        self.by: dict[str, str] = {}  # complaint id -> the instance that answered
        self.unexpected: list[str] = []
        self.down: set[str] = set()  # instances the test has killed: answers from them are not expected
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(3)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def count(self, instance: str | None = None) -> int:
        with self.lock:
            return sum(1 for by in self.by.values() if instance is None or by == instance)

    def _run(self, number: int) -> None:
        with httpx.Client(timeout=30.0) as client:
            while not self.stop.is_set():
                n = next(self.ids)
                body = {"complaint_id": f"K-{n:05d}", "customer_id": f"U-{n % 37}", "channel": "app",
                        "text": f"{TEXTS[n % len(TEXTS)]}（第{n}号）"}
                for attempt in range(40):
                    instance = self.instances[(n + attempt) % 2]
                    try:
                        response = client.post(f"{instance.url}/v1/complaints", json=body, headers=self.headers)
                    except httpx.TransportError:
                        time.sleep(0.05)
                        continue
                    if response.status_code in (200, 201):
                        with self.lock:
                            self.accepted[body["complaint_id"]] = response.json()
                            self.by[body["complaint_id"]] = instance.name
                    elif response.status_code == 429:  # backpressure: the other instance, or this one later
                        time.sleep(0.1)
                        continue
                    elif response.status_code == 503 and instance.name in self.down:
                        continue  # the restarted instance still loading its model
                    else:
                        self.unexpected.append(f"{instance.name} {response.status_code}: {response.text[:200]}")
                    break
                else:
                    self.unexpected.append(f"{body['complaint_id']}: no instance answered")


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_one_of_two_instances_under_load(pair):
    (a, b), headers = pair
    clients = Clients([a, b], headers)
    clients.start()
    try:
        wait_for(lambda: clients.count("a") >= ACCEPTED_BEFORE_KILL // 2 and clients.count() >= ACCEPTED_BEFORE_KILL,
                 120, "complaints accepted by both instances")
        clients.down.add("a")
        a.kill()
        accepted_at_kill = clients.count("b")
        wait_for(lambda: clients.count("b") >= accepted_at_kill + ACCEPTED_WHILE_DOWN, 120,
                 "the survivor to keep accepting")
        with httpx.Client(timeout=30.0) as client:  # the survivor takes a customer's first complaint
            for _ in range(30):  # the clients keep the survivor busy: a 429 is waited out, as they do
                first = client.post(f"{b.url}/v1/complaints", headers=headers,
                                    json={"complaint_id": "FIRST", "customer_id": "U-BACK", "text": FIRST})
                if first.status_code != 429:
                    break
                time.sleep(float(first.headers["Retry-After"]))
            assert first.status_code == 201, first.text
        a.start()
        a.wait_ready()
        clients.down.discard("a")
        rejoined = clients.count("a")
        wait_for(lambda: clients.count("a") >= rejoined + 5, 120, "the restarted instance to accept again")
    finally:
        clients.join()
    assert not clients.unexpected, clients.unexpected[:5]

    with httpx.Client(timeout=30.0) as client:  # the rejoined instance saw what the survivor took while it was down
        again = client.post(f"{a.url}/v1/complaints", headers=headers,
                            json={"complaint_id": "AGAIN", "customer_id": "U-BACK", "text": AGAIN})
    assert again.status_code == 201, again.text
    assert again.json()["repeat"]["is_repeat"] and again.json()["repeat"]["matter_id"] == "FIRST", again.json()

    store = Store(str(POSTGRES), protector=DataProtector.from_keys(DATA_KEY, REFERENCE_KEY.encode(), None))
    try:
        for complaint_id, decision in clients.accepted.items():  # nothing acknowledged is lost
            found = store.find(complaint_id)
            assert found is not None, f"{complaint_id} was acknowledged by {clients.by[complaint_id]} but not stored"
            assert found.decision.payload == decision
        with store.session() as session:
            numbers = list(session.scalars(text("SELECT global_seq FROM complaints ORDER BY global_seq")))
        assert numbers == list(range(1, len(numbers) + 1))  # one order, no hole where a's transaction died
        assert len(numbers) >= len(clients.accepted) + 2
    finally:
        store.close()
