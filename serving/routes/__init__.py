"""The JSON API under /v1, one module per resource, and the ops endpoints. Thin: validation and roles are
dependencies (`serving/deps.py`), the work is the library's and the store's.

A new resource is a module here with its own `router = APIRouter(prefix="/v1", tags=[...])`, listed in
`V1_ROUTERS`; the app includes every router of the list."""

from fastapi import APIRouter
from fastapi.routing import APIRoute

from serving.routes import admin, complaints, groups, matters, ops, review

V1_ROUTERS: tuple[APIRouter, ...] = (complaints.router, matters.router, review.router, groups.router, admin.router)
ops_router = ops.router


def v1_routes() -> list[APIRoute]:
    """Every /v1 endpoint (the role table and the OpenAPI tests walk these)."""
    return [route for part in V1_ROUTERS for route in part.routes if isinstance(route, APIRoute)]


__all__ = ["V1_ROUTERS", "ops_router", "v1_routes"]
