"""GET /v1/clusters (group complaints) and GET /v1/stats (the monthly figures)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from serving.deps import IntakeDep, Lead, StoreDep
from serving.schemas import ClustersOut, StatsOut, error_responses

router = APIRouter(prefix="/v1", tags=["groups"])


@router.get("/clusters", response_model=ClustersOut,
            summary="Active group clusters and every alert", responses=error_responses(401, 403, 503))
def clusters(_: Lead, intake: IntakeDep, store: StoreDep) -> Any:
    return {"active": intake.clusters(), "alerts": store.alerted_clusters()}


@router.get("/stats", response_model=StatsOut, response_model_by_alias=True,
            summary="The monthly figures: counts by category, channel, tier, department; shares; deadlines",
            description="Complaints received in [from, to). Defaults: from the start of this month (bank time) to "
                        "now. A time without a zone is bank time.",
            responses=error_responses(400, 401, 403, 503))
def stats(_: Lead, intake: IntakeDep, store: StoreDep,
          start: Annotated[datetime | None, Query(alias="from")] = None,
          end: Annotated[datetime | None, Query(alias="to")] = None) -> Any:
    policy = intake.service.policy
    now = datetime.now(UTC)
    local_now = now.astimezone(policy.zone)
    start_at = policy.localise(start) if start else local_now.replace(day=1, hour=0, minute=0, second=0,
                                                                      microsecond=0)
    end_at = policy.localise(end) if end else now
    if end_at <= start_at:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "'to' must be after 'from'")
    return store.stats(start_at, end_at, now)
