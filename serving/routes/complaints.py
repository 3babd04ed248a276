"""The JSON API, under /v1, and the ops endpoints. Thin: validation and roles here, the work in the library."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from serving.auth import ADMIN, LEAD, READ, SUBMIT, current_principal, require
from serving.intake import Accepted, IdConflict, Intake, StoreFailure
from serving.model_source import load_serving_model
from serving.schemas import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    ClustersOut,
    ComplaintPage,
    ComplaintRecord,
    ErrorOut,
    KeyCreated,
    KeyIn,
    KeyOut,
    ModelOut,
    ReviewIn,
    ReviewOut,
    StatsOut,
    Tier,
)
from serving.store import Principal, QueueFilter
from triage.schemas import ComplaintIn, Decision

router = APIRouter(prefix="/v1")

Submitter = Annotated[Principal, Depends(require(SUBMIT))]
Reader = Annotated[Principal, Depends(require(READ))]
Lead = Annotated[Principal, Depends(require(LEAD))]
Admin = Annotated[Principal, Depends(require(ADMIN))]
AnyRole = Annotated[Principal, Depends(current_principal)]
ops_router = APIRouter(tags=["ops"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {400: "Bad request", 401: "No or an unknown API key", 403: "The key's role may not do this",
                 404: "Not found", 409: "Conflict", 413: "Too large", 500: "Not stored: nothing was accepted",
                 503: "The model is not loaded yet"}
    return {code: {"model": ErrorOut, "description": described[code]} for code in codes}


def runtime(request: Request):
    return request.app.state.runtime


def intake(request: Request) -> Intake:
    state = request.app.state.runtime
    if state.intake is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the model is not loaded yet" + (f": {state.error}" if state.error else ""))
    return state.intake


# ---- ops ---------------------------------------------------------------------------------------------
@ops_router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops_router.get("/readyz", summary="Ready when the model is loaded", responses=_errors(503))
def readyz(request: Request) -> dict[str, str]:
    state = request.app.state.runtime
    if state.intake is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "loading the model" if state.error is None else f"no model: {state.error}")
    return {"status": "ready", "model_version": state.intake.model.version_}


# ---- complaints ------------------------------------------------------------------------------------
def _too_long(complaint: ComplaintIn, limit: int) -> str | None:
    if len(complaint.text) > limit:
        return f"text has {len(complaint.text)} characters; at most {limit} are accepted"
    return None


def _count(request: Request, decision: dict) -> None:
    request.app.state.metrics.decisions.labels(decision["tier"]["label"], decision["department"]).inc()


@router.post("/complaints", tags=["complaints"], status_code=201, response_model=Decision,
             summary="Triage one complaint and store it",
             description="Returns the decision (201). Idempotent on `complaint_id`: the same id with the same content "
                         "returns the stored decision (200); with other content, 409. The complaint is committed "
                         "to the store before the response is sent.",
             responses={200: {"model": Decision, "description": "A retry: the stored decision"},
                        **_errors(401, 403, 409, 413, 500, 503)})
def submit(request: Request, complaint: ComplaintIn,
           principal: Submitter) -> JSONResponse:
    problem = _too_long(complaint, request.app.state.runtime.settings.max_text_chars)
    if problem:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, problem)
    accept = request.app.state.runtime.batcher or intake(request)
    try:
        accepted = accept.submit(complaint, principal.key_id)
    except IdConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except StoreFailure as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"{exc}; nothing was accepted, retry") from None
    if accepted.created:
        _count(request, accepted.decision)
    return JSONResponse(accepted.decision, status_code=201 if accepted.created else 200)


@router.post("/complaints/batch", tags=["complaints"], response_model=BatchOut,
             summary="Triage up to 500 complaints",
             description="Each item is validated, stored and answered on its own: `items[i].status` is 201, 200 "
                         "(retry), 409, 413 or 422 with `error`. One model call for the batch.",
             responses=_errors(401, 403, 413, 503))
def submit_batch(request: Request, batch: BatchIn, principal: Submitter) -> JSONResponse:
    settings = request.app.state.runtime.settings
    if len(batch.complaints) > settings.max_batch:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(batch.complaints)} complaints in one batch; at most {settings.max_batch}")
    service = intake(request)
    items: list[dict] = []  # BatchItemOut as JSON: accepted decisions are the stored JSON, passed through

    def failed(index: int, status_code: int, complaint_id: str | None, error: str) -> None:
        items.append(BatchItemOut(index=index, status=status_code, complaint_id=complaint_id,
                                  error=error).model_dump(mode="json"))

    valid: list[tuple[int, ComplaintIn]] = []
    for index, raw in enumerate(batch.complaints):
        if not isinstance(raw, dict):
            failed(index, 422, None, f"item: expected a JSON object, got {type(raw).__name__}")
            continue
        try:
            complaint = ComplaintIn.model_validate(raw)
        except ValidationError as exc:
            failed(index, 422, _id_of(raw),
                   "; ".join(f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors()))
            continue
        problem = _too_long(complaint, settings.max_text_chars)
        if problem:
            failed(index, 413, complaint.complaint_id, problem)
            continue
        valid.append((index, complaint))
    outcomes = service.submit_many([c for _, c in valid], principal.key_id) if valid else []
    for (index, complaint), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, IdConflict | StoreFailure):
            failed(index, 409 if isinstance(outcome, IdConflict) else 500, complaint.complaint_id, str(outcome))
            continue
        assert isinstance(outcome, Accepted)
        if outcome.created:
            _count(request, outcome.decision)
        items.append({"index": index, "status": 201 if outcome.created else 200,
                      "complaint_id": outcome.decision["complaint_id"], "decision": outcome.decision,
                      "error": None})
    items.sort(key=lambda item: item["index"])
    accepted = sum(item["status"] in (200, 201) for item in items)
    return JSONResponse({"accepted": accepted, "failed": len(items) - accepted, "items": items})


def _id_of(raw: dict) -> str | None:
    value = raw.get("complaint_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


@router.get("/complaints/{complaint_id}", tags=["complaints"], response_model=ComplaintRecord,
            summary="A complaint: current routing, every decision, every review",
            description="An `intake` key sees only the complaints it submitted (others are 404).",
            responses=_errors(401, 403, 404))
def get_complaint(request: Request, complaint_id: str, principal: Reader) -> Any:
    record = runtime(request).store.complaint(complaint_id)
    if record is None or (principal.role == "intake" and record["submitted_by"] != principal.key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
    return record


@router.get("/customers/{customer_id}/complaints", tags=["complaints"], response_model=ComplaintPage,
            summary="A customer's complaints, newest first", responses=_errors(401, 403))
def customer_complaints(request: Request, customer_id: str, principal: Reader,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0) -> ComplaintPage:
    own = principal.key_id if principal.role == "intake" else None
    total, items = runtime(request).store.customer_complaints(customer_id, limit, offset, submitted_by=own)
    return ComplaintPage.model_validate({"total": total, "limit": limit, "offset": offset, "items": items})


# ---- review ----------------------------------------------------------------------------------------
@router.get("/review", tags=["review"], response_model=ComplaintPage,
            summary="The review queue: red first, then the least confident",
            responses=_errors(401, 403))
def review_queue(request: Request, _: Lead,
                 tier: Tier | None = None, category: str | None = None, department: str | None = None,
                 min_age_hours: Annotated[float | None, Query(ge=0, description="Received ≥ this long ago")] = None,
                 max_age_hours: Annotated[float | None, Query(ge=0, description="Received ≤ this long ago")] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 offset: Annotated[int, Query(ge=0)] = 0) -> ComplaintPage:
    filters = QueueFilter(tier, category, department, min_age_hours, max_age_hours)
    total, items = runtime(request).store.queue(filters, limit, offset)
    return ComplaintPage.model_validate({"total": total, "limit": limit, "offset": offset, "items": items})


def check_review(request: Request, review: ReviewIn) -> None:
    """Corrections must name a category the model knows and a department the policy routes to."""
    state = request.app.state.runtime
    categories = [str(c) for c in intake(request).model.classes_]
    departments = known_departments(state)
    problems = []
    if review.category and review.category not in categories:
        problems.append(("category", review.category,
                         f"category {review.category!r} is unknown; one of {', '.join(categories)}"))
    if review.department and review.department not in departments:
        problems.append(("department", review.department,
                         f"department {review.department!r} is unknown; one of {', '.join(departments)}"))
    if problems:  # in the same form as every other 422, as the OpenAPI document says
        raise RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}
                                      for field, value, message in problems])


def known_departments(state) -> list[str]:
    """Departments the policy routes to: a correction may only name one of these."""
    policy = state.intake.service.policy
    names = {policy.fallback_department}
    for category in policy.categories.values():
        names.update([category.department, *category.co_departments])
    for rule in policy.rules:
        names.update(rule.co_departments)
    return sorted(names)


@router.post("/review/{complaint_id}", tags=["review"], response_model=ReviewOut,
             summary="Confirm or correct a complaint's routing",
             description="Records who and when; the complaint's routing becomes the reviewed one and it leaves the "
                         "queue. Corrections become training rows (`triage feedback export`).",
             responses=_errors(401, 403, 404, 503))
def review(request: Request, complaint_id: str, body: ReviewIn,
           principal: Lead) -> Any:
    check_review(request, body)
    done = runtime(request).store.review(complaint_id, principal, body.action, body.category, body.tier,
                                         body.department, body.comment)
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
    return done


# ---- clusters and figures ---------------------------------------------------------------------------
@router.get("/clusters", tags=["groups"], response_model=ClustersOut,
            summary="Active group clusters and every alert", responses=_errors(401, 403, 503))
def clusters(request: Request, _: Lead) -> Any:
    return {"active": intake(request).clusters(), "alerts": runtime(request).store.alerted_clusters()}


@router.get("/stats", tags=["groups"], response_model=StatsOut, response_model_by_alias=True,
            summary="The monthly figures: counts by category, channel, tier, department; shares; deadlines",
            description="Complaints received in [from, to). Defaults: from the start of this month (bank time) to "
                        "now. A time without a zone is bank time.",
            responses=_errors(400, 401, 403, 503))
def stats(request: Request, _: Lead,
          start: Annotated[datetime | None, Query(alias="from")] = None,
          end: Annotated[datetime | None, Query(alias="to")] = None) -> Any:
    policy = intake(request).service.policy
    now = datetime.now(UTC)
    local_now = now.astimezone(policy.zone)
    start_at = policy.localise(start) if start else local_now.replace(day=1, hour=0, minute=0, second=0,
                                                                      microsecond=0)
    end_at = policy.localise(end) if end else now
    if end_at <= start_at:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "'to' must be after 'from'")
    return runtime(request).store.stats(start_at, end_at, now)


# ---- model and admin ---------------------------------------------------------------------------------
def model_info(request: Request) -> dict:
    state = request.app.state.runtime
    service = intake(request).service
    model = service.model
    return {"model_version": model.version_, "source": state.loaded.source,
            "registered_version": state.loaded.registered_version, "loaded_at": state.loaded.loaded_at,
            "trained_at": getattr(model, "trained_at_", None), "train_rows": getattr(model, "n_train_", None),
            "categories": [str(c) for c in model.classes_], "metrics": getattr(model, "metrics_", {}),
            "policy_version": service.policy.version}


@router.get("/model", tags=["admin"], response_model=ModelOut, summary="The model and policy being served",
            responses=_errors(401, 503))
def model(request: Request, _: AnyRole) -> Any:
    return model_info(request)


@router.post("/admin/reload", tags=["admin"], response_model=ModelOut,
             summary="Swap to the current champion (or the model directory), without failing a request",
             responses=_errors(401, 403, 409, 503))
def reload(request: Request, _: Admin) -> Any:
    state = request.app.state.runtime
    current = intake(request)
    if not state.reload_lock.acquire(blocking=False):
        raise HTTPException(status.HTTP_409_CONFLICT, "a reload is already in progress")
    try:
        loaded = load_serving_model(state.settings)
        current.swap(loaded.model)
        state.loaded = loaded
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"reload failed, still serving the previous model: {exc}") from None
    finally:
        state.reload_lock.release()
    return model_info(request)


@router.get("/admin/keys", tags=["admin"], response_model=list[KeyOut], summary="API keys (never their secrets)",
            responses=_errors(401, 403))
def list_keys(request: Request, _: Admin) -> Any:
    return runtime(request).store.list_keys()


@router.post("/admin/keys", tags=["admin"], response_model=KeyCreated, status_code=201,
             summary="Create an API key; the secret is in this response only", responses=_errors(401, 403))
def create_key(request: Request, body: Annotated[KeyIn, Body()], _: Admin) -> Any:
    store = runtime(request).store
    principal, secret = store.create_key(body.name, body.role)
    created = next(k for k in store.list_keys() if k["id"] == principal.key_id)
    return {**created, "key": secret}


@router.delete("/admin/keys/{key_id}", tags=["admin"], status_code=204, summary="Revoke an API key",
               responses=_errors(401, 403, 404))
def revoke_key(request: Request, key_id: int, _: Admin) -> None:
    if not runtime(request).store.revoke_key(key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key_id}")
