"""POST /v1/complaints, POST /v1/complaints/batch, GET /v1/complaints/{id}, GET /v1/customers/{id}/complaints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from serving.deps import IntakeDep, ReadableComplaint, Reader, RuntimeDep, StoreDep, Submitter
from serving.errors import safe_text
from serving.intake import Accepted, IdConflict, Intake, StoreFailure
from serving.params import Limit, Offset
from serving.routes.review import invalid_body
from serving.schemas import BatchIn, BatchItemOut, BatchOut, ComplaintRecord, CustomerComplaints, error_responses
from serving.store import Store
from triage.features.normalize import normalize_text
from triage.features.pii import mask_identifier
from triage.schemas import ComplaintIn, Decision, received_at_problem, validation_problems
from triage.service import FieldProblem

router = APIRouter(prefix="/v1", tags=["complaints"])


def _too_long(complaint: ComplaintIn, limit: int) -> str | None:
    """Decided on the text the model reads and the decision shows: normalised (NFKC), which can be longer than
    what was sent (ﷺ is 18 characters). Longer than the limit is refused, never cut."""
    sent, read = len(complaint.text), len(normalize_text(complaint.text))
    if read > limit:
        grown = "" if read == sent else f" once normalised (NFKC; {sent} as sent)"
        return f"text has {read} characters{grown}; at most {limit} are accepted, and a text is never cut"
    return None


def _invalid_time(complaint: ComplaintIn, intake: Intake) -> str | None:
    """A time without a zone is read in the policy's zone: checked again in it (ComplaintIn checks in the default
    bank zone, which a policy may change)."""
    if complaint.received_at is None or complaint.received_at.tzinfo is not None:
        return None
    return received_at_problem(complaint.received_at, intake.service.policy.zone)


def _taken_by_others(store: Store, complaint_ids: list[str], key_id: int) -> set[str]:
    """Of these stored ids, those another key submitted: its decision is not this key's to see."""
    return {complaint_id for complaint_id, owner in store.submitters(complaint_ids).items()
            if owner is not None and owner != key_id}


def _taken_message(complaint_id: str) -> str:
    return f"complaint_id {complaint_id!r} is taken by a complaint another key submitted; choose another id"


@router.post("/complaints", status_code=201, response_model=Decision,
             summary="Triage one complaint and store it",
             description="Returns the decision (201). Idempotent on `complaint_id`: the same id with the same content "
                         "returns the stored decision (200); with other content, 409. The complaint is committed "
                         "to the store before the response is sent.",
             responses={200: {"model": Decision, "description": "A retry: the stored decision"},
                        **error_responses(401, 403, 409, 413, 429, 500, 503)})
def submit(complaint: ComplaintIn, principal: Submitter, runtime: RuntimeDep, intake: IntakeDep) -> JSONResponse:
    problem = _too_long(complaint, runtime.settings.max_text_chars)
    if problem:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, problem)
    problem = _invalid_time(complaint, intake)
    if problem:
        raise invalid_body([FieldProblem("received_at", str(complaint.received_at), problem)])
    complaint = runtime.store.protector.protect(complaint)  # ids as references, product masked (serving.privacy)
    accept = runtime.batcher or intake
    try:
        with runtime.intake_queue.admit(1):  # full: 429 (serving.limits)
            accepted = accept.submit(complaint, principal.key_id)
    except IdConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except StoreFailure as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"{exc}; nothing was accepted, retry") from None
    if not accepted.created and _taken_by_others(runtime.store, [str(complaint.complaint_id)], principal.key_id):
        raise HTTPException(status.HTTP_409_CONFLICT, _taken_message(str(complaint.complaint_id)))
    if accepted.created:
        runtime.metrics.count(accepted.decision)
    return JSONResponse(accepted.decision.payload, status_code=201 if accepted.created else 200)


@router.post("/complaints/batch", response_model=BatchOut,
             summary="Triage up to 500 complaints",
             description="Each item is validated, stored and answered on its own: `items[i].status` is 201, 200 "
                         "(retry), 409, 413 or 422 with `error`. One model call for the batch.",
             responses=error_responses(401, 403, 413, 429, 503))
def submit_batch(batch: BatchIn, principal: Submitter, runtime: RuntimeDep, intake: IntakeDep) -> JSONResponse:
    settings = runtime.settings
    if len(batch.complaints) > settings.max_batch:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(batch.complaints)} complaints in one batch; at most {settings.max_batch}")
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
            complaint = runtime.store.protector.protect(ComplaintIn.model_validate(raw))
        except ValidationError as exc:
            failed(index, 422, _id_of(raw), validation_problems(exc))
            continue
        problem = _too_long(complaint, settings.max_text_chars)
        if problem:
            failed(index, 413, complaint.complaint_id, problem)
            continue
        problem = _invalid_time(complaint, intake)
        if problem:
            failed(index, 422, complaint.complaint_id, f"received_at: {problem}")
            continue
        valid.append((index, complaint))
    outcomes: list = []
    if valid:
        with runtime.intake_queue.admit(len(valid)):  # full: 429 for the whole batch (serving.limits)
            outcomes = intake.submit_many([c for _, c in valid], principal.key_id)
    retried = [str(c.complaint_id) for (_, c), o in zip(valid, outcomes, strict=True)
               if isinstance(o, Accepted) and not o.created]
    others = _taken_by_others(runtime.store, retried, principal.key_id)
    for (index, complaint), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, Accepted) and not outcome.created and complaint.complaint_id in others:
            failed(index, 409, complaint.complaint_id, _taken_message(str(complaint.complaint_id)))
            continue
        if isinstance(outcome, IdConflict | StoreFailure):
            failed(index, 409 if isinstance(outcome, IdConflict) else 500, complaint.complaint_id, str(outcome))
            continue
        assert isinstance(outcome, Accepted)
        if outcome.created:
            runtime.metrics.count(outcome.decision)
        items.append({"index": index, "status": 201 if outcome.created else 200,
                      "complaint_id": outcome.decision.complaint_id, "decision": outcome.decision.payload,
                      "error": None})
    items.sort(key=lambda item: item["index"])
    accepted = sum(item["status"] in (200, 201) for item in items)
    return JSONResponse({"accepted": accepted, "failed": len(items) - accepted, "items": items})


def _id_of(raw: dict) -> str | None:
    value = raw.get("complaint_id") if isinstance(raw, dict) else None
    # echoed: a lone surrogate must not fail the batch, an id that is personal data is not shown
    return mask_identifier(safe_text(value)) if isinstance(value, str) else None


@router.get("/complaints/{complaint_id}", response_model=ComplaintRecord,
            summary="A complaint: current routing, every decision, every review",
            description="An `intake` key sees only the complaints it submitted (others are 404).",
            responses=error_responses(401, 403, 404))
def get_complaint(record: ReadableComplaint) -> Any:
    return record


@router.get("/customers/{customer_id}/complaints", response_model=CustomerComplaints,
            summary="A customer's complaints, newest first, and their matters", responses=error_responses(401, 403))
def customer_complaints(customer_id: str, principal: Reader, store: StoreDep,
                        limit: Limit = 50, offset: Offset = 0) -> CustomerComplaints:
    own = principal.key_id if principal.role == "intake" else None
    customer_id = store.customer_key(customer_id)  # stored by reference
    total, items = store.customer_complaints(customer_id, limit, offset, submitted_by=own)
    matters = store.customer_matters(customer_id, submitted_by=own)
    return CustomerComplaints.model_validate(
        {"total": total, "limit": limit, "offset": offset, "items": items, "matters": matters}, from_attributes=True)
