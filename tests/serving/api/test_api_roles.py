"""Every endpoint × every caller → the expected status: 401 without a key, with an unknown, a revoked or a
malformed one; 403 for the wrong role; the endpoint's success status for the right one.

One client per backend runs the whole table (a client per cell would cost minutes); every mismatch is
collected and reported together."""

from __future__ import annotations

from serving.routes import v1_routes

CALLERS = ("none", "unknown", "revoked", "wrong scheme", "intake", "lead", "admin")
UNAUTHENTICATED = ("none", "unknown", "revoked", "wrong scheme")

# (method, path template) -> what the right roles get; every other authenticated role gets 403
TABLE: dict[tuple[str, str], dict[str, int]] = {
    ("POST", "/v1/complaints"): {"intake": 201, "lead": 403, "admin": 201},
    ("POST", "/v1/complaints/batch"): {"intake": 200, "lead": 403, "admin": 200},
    ("GET", "/v1/complaints/{complaint_id}"): {"intake": 200, "lead": 200, "admin": 200},
    ("GET", "/v1/customers/{customer_id}/complaints"): {"intake": 200, "lead": 200, "admin": 200},
    ("GET", "/v1/customers/{customer_id}/matters"): {"intake": 403, "lead": 200, "admin": 200},
    # join before split: each role that may joins ROLE-1's and ROLE-2's matters, then splits ROLE-2 off again
    ("POST", "/v1/customers/{customer_id}/matters/join"): {"intake": 403, "lead": 200, "admin": 200},
    ("POST", "/v1/customers/{customer_id}/matters/split"): {"intake": 403, "lead": 200, "admin": 200},
    ("GET", "/v1/review"): {"intake": 403, "lead": 200, "admin": 200},
    ("POST", "/v1/review/{complaint_id}"): {"intake": 403, "lead": 200, "admin": 200},
    ("GET", "/v1/clusters"): {"intake": 403, "lead": 200, "admin": 200},
    # no alert here (raising one takes a history and a burst: test_api_alerts.py): the roles let through get 404
    ("POST", "/v1/alerts/{alert_id}"): {"intake": 403, "lead": 404, "admin": 404},
    ("GET", "/v1/stats"): {"intake": 403, "lead": 200, "admin": 200},
    ("GET", "/v1/model"): {"intake": 200, "lead": 200, "admin": 200},
    ("POST", "/v1/admin/reload"): {"intake": 403, "lead": 403, "admin": 200},
    ("GET", "/v1/admin/keys"): {"intake": 403, "lead": 403, "admin": 200},
    ("POST", "/v1/admin/keys"): {"intake": 403, "lead": 403, "admin": 201},
    ("DELETE", "/v1/admin/keys/{key_id}"): {"intake": 403, "lead": 403, "admin": 204},
    ("GET", "/v1/admin/complaints/{complaint_id}/original"): {"intake": 403, "lead": 403, "admin": 200},
}
PUBLIC = (("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json"))


def test_the_table_covers_every_v1_endpoint():
    served = {(method, route.path) for route in v1_routes() for method in route.methods}
    assert served == set(TABLE)


def test_every_endpoint_and_role(api, api_keys):
    complaint = api.submit(api.texts.FEE, complaint_id="ROLE-1", customer_id="ROLE-CUSTOMER")
    other = api.submit(api.texts.COLLECTION, complaint_id="ROLE-2", customer_id="ROLE-CUSTOMER")
    assert other["repeat"]["matter_id"] == "ROLE-2"  # another matter: there is something to join
    revoked_id, revoked_secret = api.new_key("admin", "former admin")
    assert api.request("DELETE", f"/v1/admin/keys/{revoked_id}", role="admin").status_code == 204
    target_id, target_secret = api.new_key("intake", "to be revoked by the table")
    callers = {
        "none": {},
        "unknown": {"Authorization": "Bearer trk_this-key-was-never-issued"},
        "revoked": {"Authorization": f"Bearer {revoked_secret}"},
        "wrong scheme": {"Authorization": f"Basic {api_keys['admin']}"},
        **api.headers,
    }
    bodies = {
        ("POST", "/v1/complaints"): lambda: api.complaint(api.texts.APP_FAILURE),
        ("POST", "/v1/complaints/batch"): lambda: {"complaints": [api.complaint(api.texts.COLLECTION)]},
        ("POST", "/v1/review/{complaint_id}"): lambda: {"action": "confirm", "comment": "checked"},
        ("POST", "/v1/alerts/{alert_id}"): lambda: {"action": "confirm"},
        ("POST", "/v1/admin/keys"): lambda: {"name": "made by the table", "role": "lead"},
        ("POST", "/v1/customers/{customer_id}/matters/join"): lambda: {"matters": ["ROLE-1", "ROLE-2"]},
        ("POST", "/v1/customers/{customer_id}/matters/split"): lambda: {"complaint_id": "ROLE-2"},
    }
    concrete = {"{complaint_id}": complaint["complaint_id"], "{customer_id}": "ROLE-CUSTOMER",
                "{key_id}": str(target_id), "{alert_id}": "G000001-emerging-00000000"}

    mismatches = []
    for caller in CALLERS:  # admin last: its DELETE revokes the target key only after everyone else tried
        for (method, template), allowed in TABLE.items():
            path = template
            for placeholder, value in concrete.items():
                path = path.replace(placeholder, value)
            body = bodies.get((method, template))
            response = api.client.request(method, path, headers=callers[caller], json=body() if body else None)
            expected = 401 if caller in UNAUTHENTICATED else allowed[caller]
            if response.status_code != expected:
                mismatches.append(f"{caller:>12} {method:6} {template}: {response.status_code} != {expected} "
                                  f"{response.text[:120]}")
            elif expected == 401:
                assert response.headers.get("WWW-Authenticate") == "Bearer"
            elif expected == 403:
                assert f"the role {caller!r} may not do this" in response.json()["detail"]
        for method, path in PUBLIC:
            status = api.client.request(method, path, headers=callers[caller]).status_code
            if status != 200:
                mismatches.append(f"{caller:>12} {method:6} {path}: {status} != 200")
    assert not mismatches, "\n" + "\n".join(mismatches)

    # refused calls did nothing: only ROLE-1, ROLE-2 and the intake and admin submissions (a single and a batch each)
    everything = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
    assert api.get("/v1/stats", **everything).json()["complaints"] == 2 + 2 * 2
    reviews = api.record("ROLE-1")["reviews"]
    assert [r["reviewer"] for r in reviews] == ["test lead", "test admin"]
    names = [k["name"] for k in api.get("/v1/admin/keys", "admin").json()]
    assert names.count("made by the table") == 1
    assert api.client.get("/v1/model", headers={"Authorization": f"Bearer {target_secret}"}).status_code == 401


def test_the_key_can_come_in_either_header(api, api_keys):
    for role, secret in api_keys.items():
        for auth in ({"Authorization": f"Bearer {secret}"}, {"X-API-Key": secret}):
            response = api.client.get("/v1/model", headers=auth)
            assert response.status_code == 200, (role, auth, response.text)
    assert api.client.get("/v1/review", headers={"X-API-Key": api_keys["intake"]}).status_code == 403
    assert api.client.get("/v1/review", headers={"X-API-Key": "trk_unknown"}).status_code == 401
    assert api.client.get("/v1/review", headers={"X-API-Key": ""}).status_code == 401
