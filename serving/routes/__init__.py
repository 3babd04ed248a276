"""The JSON API under /v1, one module per resource, and the ops endpoints. Thin: validation and roles are
dependencies (`serving/deps.py`), the work is the library's and the store's."""

from fastapi import APIRouter

from serving.routes import admin, complaints, groups, ops, review

router = APIRouter(prefix="/v1")
for part in (complaints, review, groups, admin):
    router.include_router(part.router)
ops_router = ops.router

__all__ = ["ops_router", "router"]
