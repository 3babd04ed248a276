"""/healthz and /readyz (/metrics is the instrumentator's, mounted by the app)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from serving.deps import RuntimeDep
from serving.schemas import error_responses

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready when the model is loaded", responses=error_responses(503))
def readyz(runtime: RuntimeDep) -> dict[str, str]:
    if runtime.intake is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "loading the model" if runtime.error is None else f"no model: {runtime.error}")
    return {"status": "ready", "model_version": runtime.intake.model.version_}
