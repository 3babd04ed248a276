"""Schemathesis over every operation of the OpenAPI document, in-process (ASGI), with a key of the role that may
call it: no input may end in a server error (5xx), and every answer must match the documented status codes,
content types and response schemas.

The budget is fixed and the run derandomized (no example database), so a run is reproducible: the same cases in
the same order on every machine. Each operation gets valid cases (positive: they reach the handler's work) and
invalid ones (negative: wrong types, out-of-range numbers, missing fields, strings with anything in them); an
operation with a complaint or customer in its path also gets cases for one that exists. Failures are collected
over the whole run and reported together, each with the curl command that reproduces it."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.routes import v1_routes
from serving.store import Store

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation and mode. Operations without parameters have one case or a handful, the rest up to the budget:
# measured 3,065 cases over 19 operations on SQLite (303 s at load 12 on 2 cores). The same run on PostgreSQL
# (when the suite has one) is a sixth of it: what differs there is only the database's own limits.
EXAMPLES = {"sqlite": 85, "postgresql": 15}
FEW = {("POST", "/v1/admin/reload"): 1}  # each call reloads the model and rebuilds the similarity window
MIN_CASES = {"sqlite": 2_000, "postgresql": 400}

# The role each operation is fuzzed with: the least one that may call it (its handler's own checks included).
ROLE = {
    ("POST", "/v1/complaints"): "intake",
    ("POST", "/v1/complaints/batch"): "intake",
    ("GET", "/v1/complaints/{complaint_id}"): "intake",
    ("GET", "/v1/customers/{customer_id}/complaints"): "intake",
    ("GET", "/v1/model"): "intake",
}
DEFAULT_ROLE_BY_PREFIX = (("/v1/admin", "admin"), ("/v1/", "lead"), ("/", "lead"))
SEEDED = {"complaint_id": "FUZZ-SEED-1", "customer_id": "FUZZ-CUSTOMER"}


def role_of(method: str, path: str) -> str:
    return ROLE.get((method, path)) or next(role for prefix, role in DEFAULT_ROLE_BY_PREFIX if path.startswith(prefix))


class Keys:
    """A working key per role. The fuzzed DELETE /v1/admin/keys/{id} may revoke one (ids are small numbers): a
    revoked key is replaced before the next call, so every case still reaches its handler."""

    def __init__(self, store: Store, secrets: dict[str, str]):
        self.store = store
        self.secrets = dict(secrets)
        self.ids = {role: store.authenticate(secret).key_id for role, secret in secrets.items()}  # type: ignore[union-attr]

    def headers(self, role: str) -> dict[str, str]:
        if self.store.principal(self.ids[role]) is None:
            principal, self.secrets[role] = self.store.create_key(f"fuzz {role}", role)
            self.ids[role] = principal.key_id
        return {"Authorization": f"Bearer {self.secrets[role]}"}


def fuzz(strategy, budget: int, call: Callable) -> None:
    @given(case=strategy)
    @settings(max_examples=budget, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        call(case)

    with contextlib.suppress(Unsatisfiable):  # an operation without parameters or body has no invalid case
        run()


def test_no_input_ends_in_a_server_error_or_off_the_schema(client, api_keys, api, database_url):
    backend = "sqlite" if database_url is None else "postgresql"
    api.submit(api.texts.ENGLISH, complaint_id=SEEDED["complaint_id"], customer_id=SEEDED["customer_id"])
    keys = Keys(api.runtime.store, api_keys)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    started = time.perf_counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        method, path = operation.method.upper(), operation.path
        role = role_of(method, path)
        budget = FEW.get((method, path), EXAMPLES[backend])

        def call(case, label: str = f"{method} {path}", role: str = role) -> None:
            headers = keys.headers(role)
            response = case.call(headers=headers, timeout=120)  # a reload takes seconds on a busy machine
            cases[label] += 1
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as exc:
                failures.append(f"{label}: {exc}")

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation.as_strategy(mode), budget, call)
        seeded = {name: value for name, value in SEEDED.items() if f"{{{name}}}" in path}
        if seeded:  # the same again on a complaint (customer) that exists: the handler's work, not its 404
            fuzz(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=seeded), budget, call)

    elapsed = time.perf_counter() - started
    total = sum(cases.values())
    summary = f"{total} cases, {len(cases)} operations, {elapsed:.0f} s; statuses {dict(sorted(statuses.items()))}"
    print(summary)
    assert not failures, f"{len(failures)} failing cases ({summary}):\n\n" + "\n\n".join(failures[:20])
    assert total >= MIN_CASES[backend], summary
    assert statuses[201] > 0 and statuses[200] > 0  # the handlers' work was reached, not only their refusals
    assert not any(status >= 500 for status in statuses)


def test_the_role_table_names_real_operations():
    served = {(method, route.path) for route in v1_routes() for method in route.methods}
    assert set(ROLE) <= served, set(ROLE) - served
