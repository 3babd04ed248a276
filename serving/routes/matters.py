"""A customer's matters, and a lead's corrections of them (issue 17):

    GET  /v1/customers/{customer_id}/matters        the matters and every split and join of them
    POST /v1/customers/{customer_id}/matters/split  {complaint_id}: the complaint starts a matter of its own
    POST /v1/customers/{customer_id}/matters/join   {matters: [...]}: the matters become one

A correction is recorded with who and when, and applied to the similarity window at once: the customer's next
complaint is counted on the corrected matters (a third complaint across two joined matters goes to a
supervisor; one like a split-off complaint is that complaint's second).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from serving.deps import IntakeDep, Lead, StoreDep
from serving.intake import Intake
from serving.schemas import CustomerMatters, MatterJoinIn, MattersCorrected, MatterSplitIn, error_responses
from serving.store import Principal, Store
from triage.similarity.corrections import MatterCorrection, MattersUnchanged, UnknownComplaints

router = APIRouter(prefix="/v1", tags=["matters"])


def _reference(store: Store, customer_id: str) -> str:
    """Customers are stored by reference when their id is personal data (serving.privacy): either finds them."""
    return store.customer_key(customer_id)


def _customer_known(store: Store, customer_id: str) -> None:
    if not store.customer_complaints(customer_id, 1, 0)[0]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaints of customer {customer_id!r}")


def _apply(intake: Intake, store: Store, customer_id: str, correction: MatterCorrection, principal: Principal,
           comment: str) -> dict[str, Any]:
    _customer_known(store, customer_id)
    try:
        entry = intake.correct_matters(customer_id, correction, principal, comment)
    except UnknownComplaints as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{exc} {customer_id!r}") from None
    except MattersUnchanged as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {"correction": entry, "matters": store.customer_matters(customer_id)}


@router.get("/customers/{customer_id}/matters", response_model=CustomerMatters,
            summary="A customer's matters, with every lead's split and join of them",
            responses=error_responses(401, 403, 404))
def customer_matters(customer_id: str, _: Lead, store: StoreDep) -> Any:
    customer_id = _reference(store, customer_id)
    _customer_known(store, customer_id)
    return CustomerMatters.model_validate({"matters": store.customer_matters(customer_id),
                                           "corrections": store.matter_corrections(customer_id)},
                                          from_attributes=True)


@router.post("/customers/{customer_id}/matters/split", response_model=MattersCorrected,
             summary="Split a complaint off its matter: it starts a matter of its own",
             description="For a complaint the repeat detector put on a matter it does not belong to. The rest of "
                         "the matter stays one (named by its next complaint when the first is split off). "
                         "404: no such complaint of this customer; 409: it is alone on its matter already.",
             responses=error_responses(401, 403, 404, 409, 503))
def split_matter(customer_id: str, body: MatterSplitIn, principal: Lead, intake: IntakeDep, store: StoreDep) -> Any:
    complaint_id = store.complaint_key(body.complaint_id)
    return _apply(intake, store, _reference(store, customer_id), MatterCorrection("split", (complaint_id,)),
                  principal, body.comment)


@router.post("/customers/{customer_id}/matters/join", response_model=MattersCorrected,
             summary="Join two or more of a customer's matters into one",
             description="For complaints about one matter the repeat detector kept apart: the complaints of all "
                         "of them are counted as one matter, named by the earliest. 404: a matter or complaint "
                         "this customer does not have; 409: they are one matter already.",
             responses=error_responses(401, 403, 404, 409, 503))
def join_matters(customer_id: str, body: MatterJoinIn, principal: Lead, intake: IntakeDep, store: StoreDep) -> Any:
    matters = tuple(store.complaint_key(m) for m in body.matters)
    return _apply(intake, store, _reference(store, customer_id), MatterCorrection("join", matters), principal,
                  body.comment)
