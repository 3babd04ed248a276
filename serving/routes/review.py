"""GET /v1/review (the queue) and POST /v1/review/{id} (confirm or correct)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError

from serving.deps import IntakeDep, Lead, StoreDep
from serving.params import Limit, MaxAgeHours, MinAgeHours, Offset
from serving.schemas import ComplaintPage, ReviewIn, ReviewOut, error_responses
from serving.store import NothingToCorrect, QueueFilter
from triage.service import FieldProblem
from triage.vocabulary import Tier

router = APIRouter(prefix="/v1", tags=["review"])


@router.get("/review", response_model=ComplaintPage,
            summary="The review queue: red first, then the least confident",
            responses=error_responses(401, 403))
def review_queue(_: Lead, store: StoreDep,
                 tier: Tier | None = None, category: str | None = None, department: str | None = None,
                 min_age_hours: MinAgeHours = None, max_age_hours: MaxAgeHours = None,
                 limit: Limit = 50, offset: Offset = 0) -> ComplaintPage:
    filters = QueueFilter(tier, category, department, min_age_hours, max_age_hours)
    total, items = store.queue(filters, limit, offset)
    return ComplaintPage.model_validate({"total": total, "limit": limit, "offset": offset, "items": items},
                                        from_attributes=True)


def invalid_body(problems: list[FieldProblem]) -> RequestValidationError:
    """Domain problems of a request body as FastAPI's own 422 (the form the OpenAPI document gives every 422)."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", p.field), "msg": p.message,
                                    "input": p.value} for p in problems])


@router.post("/review/{complaint_id}", response_model=ReviewOut,
             summary="Confirm or correct a complaint's routing",
             description="Records who and when; the complaint's routing becomes the reviewed one and it leaves the "
                         "queue. A correction must change the category, tier or department (else 422: confirm "
                         "instead). Reviews become training rows (`triage feedback export`).",
             responses=error_responses(401, 403, 404, 503))
def review(complaint_id: str, body: ReviewIn, principal: Lead, intake: IntakeDep, store: StoreDep) -> Any:
    complaint_id = store.complaint_key(complaint_id)  # an id that is personal data
    problems = intake.service.correction_problems(body.category, body.department)
    if problems:
        raise invalid_body(problems)
    try:
        done = store.review(complaint_id, principal, body.action, body.category, body.tier, body.department,
                            body.comment)
    except NothingToCorrect as exc:
        named = [name for name in ("category", "tier", "department") if getattr(body, name)]
        raise invalid_body([FieldProblem(name, str(getattr(body, name)), str(exc)) for name in named]) from None
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
    return done
