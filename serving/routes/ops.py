"""/healthz and /readyz (/metrics is the instrumentator's, mounted by the app).

Both are `async def` and touch nothing that blocks: they are answered on the event loop, never queued behind
the request thread pool, and the in-flight bound does not count them (`serving.limits`), so a busy server is
still seen alive and ready."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from serving.deps import RuntimeDep
from serving.schemas import error_responses

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready when the model is loaded", responses=error_responses(503))
async def readyz(runtime: RuntimeDep) -> dict[str, str]:
    if runtime.intake is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "loading the model" if runtime.error is None else f"no model: {runtime.error}",
                            headers={"Retry-After": str(runtime.settings.retry_after_seconds)})
    return {"status": "ready", "model_version": runtime.intake.model.version_}
