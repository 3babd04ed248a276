"""/healthz, /readyz, /metrics, request ids, a service without a model, and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from serving.routes import v1_routes


def metrics(api) -> dict:
    response = api.get("/metrics", None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def test_health_and_readiness_need_no_key(api, trained_model):
    health = api.get("/healthz", None)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = api.get("/readyz", None)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": trained_model.version_}


def test_metrics_count_decisions_the_queue_and_http_requests(api):
    created = [api.submit(api.texts.APP_FAILURE, complaint_id="M-1"),
               api.submit_flagged(api.texts.ENGLISH),
               api.submit_flagged(api.texts.DISTRESS)]
    api.submit(api.texts.APP_FAILURE, complaint_id="M-1", customer_id=None, expect=409)
    fee = api.post("/v1/complaints", {"complaint_id": "M-2", "text": api.texts.FEE}, role="intake")
    assert api.post("/v1/complaints", {"complaint_id": "M-2", "text": api.texts.FEE}, role="intake").status_code == 200
    created.append(fee.json())
    assert api.post("/v1/complaints", {"text": ""}, role="intake").status_code == 422

    families = metrics(api)
    decisions = families["triage_decisions"]  # exposed as triage_decisions_total
    assert decisions.type == "counter"
    counted = {(s.labels["tier"], s.labels["department"]): s.value
               for s in decisions.samples if s.name == "triage_decisions_total"}
    expected: dict = {}
    for d in created:  # a retry is not a new decision
        key = (d["tier"]["label"], d["department"])
        expected[key] = expected.get(key, 0) + 1
    assert counted == expected

    queue = families["triage_review_queue_length"]
    assert queue.type == "gauge"
    assert queue.samples[0].value == api.queue()["total"] == 2
    api.post(f"/v1/review/{created[1]['complaint_id']}", {"action": "confirm"})
    assert metrics(api)["triage_review_queue_length"].samples[0].value == 1
    assert families["triage_model_ready"].samples[0].value == 1

    duration = families["http_request_duration_seconds"]
    assert duration.type == "histogram"
    posts = [s for s in duration.samples if s.name == "http_request_duration_seconds_count"
             and s.labels == {"handler": "/v1/complaints", "method": "POST"}]
    assert posts and posts[0].value == 7
    assert any(s.name == "http_request_duration_seconds_bucket" and s.labels.get("le") == "+Inf"
               for s in duration.samples)
    assert families["http_request_duration_highr_seconds"].type == "histogram"
    statuses = {s.labels["status"]: s.value for s in families["http_requests"].samples
                if s.name == "http_requests_total" and s.labels["handler"] == "/v1/complaints"}
    assert statuses == {"2xx": 5, "4xx": 2}
    assert "/healthz" not in {s.labels.get("handler") for s in duration.samples}


def test_every_response_carries_a_request_id(api):
    given = api.get("/v1/model", "lead").headers["X-Request-ID"]
    assert len(given) == 32
    echoed = api.request("GET", "/v1/model", "lead", headers={"X-Request-ID": "abc-123_x"})
    assert echoed.headers["X-Request-ID"] == "abc-123_x"
    for unusable in ("bad id<script>", "13812345678"):  # not a plain token; a phone number would be logged as is
        replaced = api.request("GET", "/healthz", None, headers={"X-Request-ID": unusable})
        assert len(replaced.headers["X-Request-ID"]) == 32 and replaced.headers["X-Request-ID"] != unusable


def test_without_a_model_the_service_is_up_but_not_ready(service_settings, headers, tmp_path):
    settings = service_settings.model_copy(update={"model_dir": tmp_path / "no-model"})
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "no model" in ready.json()["detail"]
        for method, path, body in (("POST", "/v1/complaints", {"text": "手机银行打不开"}),
                                   ("POST", "/v1/complaints/batch", {"complaints": [{"text": "手机银行打不开"}]}),
                                   ("GET", "/v1/model", None)):
            response = client.request(method, path, json=body, headers=headers["admin"])
            assert response.status_code == 503, (path, response.text)
            assert "not loaded" in response.json()["detail"]
        assert client.get("/v1/review", headers=headers["lead"]).status_code == 200  # the store still answers
        assert "triage_model_ready 0.0" in client.get("/metrics").text


# ---- OpenAPI ---------------------------------------------------------------------------------------------
# The 4xx answers each operation gives (every one of them is exercised by a test of this directory).
ERRORS = {
    ("POST", "/v1/complaints"): {401, 403, 409, 413, 422, 429},  # 429: test_api_limits.py
    ("POST", "/v1/complaints/batch"): {401, 403, 413, 422, 429},
    ("GET", "/v1/complaints/{complaint_id}"): {401, 404},
    ("GET", "/v1/customers/{customer_id}/complaints"): {401, 422},
    ("GET", "/v1/customers/{customer_id}/matters"): {401, 403, 404},  # test_api_matters.py
    ("POST", "/v1/customers/{customer_id}/matters/split"): {401, 403, 404, 409, 422},
    ("POST", "/v1/customers/{customer_id}/matters/join"): {401, 403, 404, 409, 422},
    ("GET", "/v1/review"): {401, 403, 422},
    ("POST", "/v1/review/{complaint_id}"): {401, 403, 404, 422},
    ("GET", "/v1/clusters"): {401, 403},
    ("POST", "/v1/alerts/{alert_id}"): {401, 403, 404, 409, 422},  # test_api_alerts.py
    ("GET", "/v1/stats"): {400, 401, 403, 422},
    ("GET", "/v1/model"): {401},
    ("POST", "/v1/admin/reload"): {401, 403, 409},
    ("GET", "/v1/admin/keys"): {401, 403},
    ("POST", "/v1/admin/keys"): {401, 403, 422},
    ("DELETE", "/v1/admin/keys/{key_id}"): {401, 403, 404, 409, 422},
    ("GET", "/v1/admin/complaints/{complaint_id}/original"): {401, 403, 404, 409},  # test_api_personal_data.py
}


def test_openapi_lists_every_v1_path_with_its_errors(api):
    response = api.get("/openapi.json", None)
    assert response.status_code == 200
    paths = response.json()["paths"]
    served = {(method, route.path) for route in v1_routes() for method in route.methods}
    assert served == set(ERRORS), "an endpoint was added or removed: update ERRORS and the role table"
    for (method, path), errors in ERRORS.items():
        assert path in paths, path
        operation = paths[path][method.lower()]
        documented = {int(code) for code in operation["responses"] if code.startswith("4")}
        assert errors <= documented, (method, path, sorted(errors - documented))
        for code in documented:
            assert operation["responses"][str(code)]["description"], (method, path, code)
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        assert {"HTTPBearer", "APIKeyHeader"} <= schemes, (method, path, operation.get("security"))
    for path in ("/healthz", "/readyz", "/metrics"):
        assert path in paths


def _documented_detail_type(spec: dict, method: str, path: str, status: int) -> str:
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    return spec["components"]["schemas"][name]["properties"]["detail"]["type"]


def test_error_bodies_match_their_documented_schema(api):
    spec = api.get("/openapi.json", None).json()
    decision = api.submit(complaint_id="DOC-1")
    cases = [  # (method, path template, status, the request)
        ("post", "/v1/complaints", 409, lambda: api.post("/v1/complaints", {"complaint_id": "DOC-1", "text": "x"},
                                                         role="intake")),
        ("post", "/v1/complaints", 413, lambda: api.post("/v1/complaints", {"text": "长" * 20_001}, role="intake")),
        ("post", "/v1/complaints", 422, lambda: api.post("/v1/complaints", {"text": ""}, role="intake")),
        ("post", "/v1/complaints", 401, lambda: api.post("/v1/complaints", {"text": "x"}, role=None)),
        ("post", "/v1/complaints", 403, lambda: api.post("/v1/complaints", {"text": "x"}, role="lead")),
        ("get", "/v1/complaints/{complaint_id}", 404, lambda: api.get("/v1/complaints/NOPE")),
        ("get", "/v1/stats", 400, lambda: api.get("/v1/stats", to="2000-01-01T00:00:00")),
        ("post", "/v1/review/{complaint_id}", 404, lambda: api.post("/v1/review/NOPE", {"action": "confirm"})),
        ("post", "/v1/review/{complaint_id}", 422,
         lambda: api.post(f"/v1/review/{decision['complaint_id']}", {"action": "correct"})),
        ("delete", "/v1/admin/keys/{key_id}", 404, lambda: api.request("DELETE", "/v1/admin/keys/999", "admin")),
    ]
    for method, path, status, call in cases:
        response = call()
        assert response.status_code == status, (method, path, response.text)
        kind = _documented_detail_type(spec, method, path, status)
        actual = "array" if isinstance(response.json()["detail"], list) else "string"
        assert actual == kind, (method, path, status, response.json())


def test_the_422_of_an_unknown_review_category_matches_its_documented_schema(api):
    """BUG: POST /v1/review/{id} answers an unknown category or department with 422 and a string `detail`
    (an HTTPException in check_review), but the only 422 it documents is FastAPI's HTTPValidationError,
    whose `detail` is a list: a client generated from /openapi.json cannot read that error."""
    spec = api.get("/openapi.json", None).json()
    complaint_id = api.submit()["complaint_id"]
    response = api.post(f"/v1/review/{complaint_id}", {"action": "correct", "category": "不存在的类别"})
    assert response.status_code == 422
    kind = _documented_detail_type(spec, "post", "/v1/review/{complaint_id}", 422)
    actual = "array" if isinstance(response.json()["detail"], list) else "string"
    assert actual == kind, response.json()

