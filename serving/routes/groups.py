"""GET /v1/clusters (group complaints), POST /v1/alerts/{id} (a lead confirms or dismisses a group alert) and GET
/v1/stats (the monthly figures)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from serving.deps import IntakeDep, Lead, StoreDep
from serving.params import EARLIEST_DAY, LATEST_DAY, DayOrMoment, period_end, period_start
from serving.schemas import AlertOut, AlertReviewIn, ClustersOut, StatsOut, error_responses
from serving.store.alerts import AlertAlreadyReviewed

router = APIRouter(prefix="/v1", tags=["groups"])


@router.get("/clusters", response_model=ClustersOut,
            summary="Active group clusters and every alert", responses=error_responses(401, 403, 503))
def clusters(_: Lead, intake: IntakeDep, store: StoreDep) -> Any:
    return {"active": intake.clusters(), "alerts": store.alerted_clusters(), "raised": store.alerts()}


@router.post("/alerts/{alert_id}", response_model=AlertOut,
             summary="Confirm a group alert, or dismiss it as not one incident",
             description="Records who and when. A dismissal takes back what the alert added to its complaints (each "
                         "gets a decision with the reason 'group alert <cluster> dismissed') and the cluster does not "
                         "alert again until it grows: new distinct customers at least half of those it had when "
                         "dismissed, and at least 3 (the policy's `regrow_share`, `regrow_customers`). An alert is "
                         "reviewed once (409 after).",
             responses=error_responses(401, 403, 404, 409, 503))
def review_alert(alert_id: str, body: AlertReviewIn, principal: Lead, intake: IntakeDep) -> Any:
    try:
        done = intake.review_alert(alert_id, body.action, principal, body.comment)
    except AlertAlreadyReviewed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return done


@router.get("/stats", response_model=StatsOut, response_model_by_alias=True,
            summary="The monthly figures: counts by category, channel, tier, department; shares; deadlines",
            description="Complaints received in [from, to): `from` included, `to` not; the response gives both as "
                        "instants in bank time. A date alone is a whole day in bank time: `from=2025-10-01&"
                        "to=2025-10-31` is all of October, to 2025-11-01T00:00:00+08:00. A time without a zone is "
                        "bank time. Defaults: from the start of this month (bank time) to now. Dates from "
                        f"{EARLIEST_DAY} to {LATEST_DAY}.",
            responses=error_responses(400, 401, 403, 503))
def stats(_: Lead, intake: IntakeDep, store: StoreDep,
          start: Annotated[DayOrMoment | None, Query(alias="from", description="First day or instant included.")]
          = None,
          end: Annotated[DayOrMoment | None, Query(alias="to", description="Last day included, or the first instant "
                                                                           "not included.")] = None) -> Any:
    zone = intake.service.policy.zone
    now = datetime.now(UTC)
    local_now = now.astimezone(zone)
    start_at = period_start(start, zone) if start is not None else local_now.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0)
    end_at = period_end(end, zone) if end is not None else now
    if end_at <= start_at:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "'to' must be after 'from'")
    return store.stats(start_at.astimezone(zone), end_at.astimezone(zone), now)
