"""GET /v1/model, POST /v1/admin/reload, the API keys: GET/POST /v1/admin/keys, DELETE /v1/admin/keys/{id}, and
GET /v1/admin/complaints/{id}/original: a complaint's text as submitted, every read recorded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status

from serving.deps import Admin, AnyRole, IntakeDep, RuntimeDep, StoreDep
from serving.params import KeyId
from serving.privacy import OriginalUnreadable
from serving.runtime import ReloadInProgress
from serving.schemas import KeyCreated, KeyIn, KeyOut, ModelOut, OriginalOut, error_responses
from serving.store import LastAdminKey

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/model", response_model=ModelOut, summary="The model and policy being served",
            responses=error_responses(401, 503))
def model(_: AnyRole, runtime: RuntimeDep, intake: IntakeDep) -> Any:
    return runtime.model_info(intake)


@router.post("/admin/reload", response_model=ModelOut,
             summary="Swap to the current champion (or the model directory), without failing a request",
             responses=error_responses(401, 403, 409, 503))
def reload(_: Admin, runtime: RuntimeDep, intake: IntakeDep) -> Any:
    try:
        runtime.reload(intake)
    except ReloadInProgress as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"reload failed, still serving the previous model: {exc}") from None
    return runtime.model_info(intake)


@router.get("/admin/keys", response_model=list[KeyOut], summary="API keys (never their secrets)",
            responses=error_responses(401, 403))
def list_keys(_: Admin, store: StoreDep) -> Any:
    return store.list_keys()


@router.post("/admin/keys", response_model=KeyCreated, status_code=201,
             summary="Create an API key; the secret is in this response only", responses=error_responses(401, 403))
def create_key(body: Annotated[KeyIn, Body()], _: Admin, store: StoreDep) -> Any:
    principal, secret = store.create_key(body.name, body.role)
    created = next(k for k in store.list_keys() if k.id == principal.key_id)
    return KeyCreated.model_validate({**vars(created), "key": secret})


@router.delete("/admin/keys/{key_id}", status_code=204, summary="Revoke an API key",
               description="The last active admin key cannot be revoked (409): create another admin key first.",
               responses=error_responses(401, 403, 404, 409))
def revoke_key(key_id: KeyId, _: Admin, store: StoreDep) -> None:
    try:
        found = store.revoke_key(key_id)
    except LastAdminKey as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key_id}")


@router.get("/admin/complaints/{complaint_id}/original", response_model=OriginalOut,
            summary="A complaint's text as submitted (unmasked); the read is recorded",
            description="The service stores and shows complaint text masked; the original is kept only encrypted. "
                        "Each read is recorded with the reading key and time (`reads`) before it is answered. "
                        "Answers 409 when the original was sealed with a key this service does not have.",
            responses=error_responses(401, 403, 404, 409))
def read_original(complaint_id: str, principal: Admin, store: StoreDep) -> Any:
    complaint_id = store.complaint_key(complaint_id)
    try:
        original = store.read_original(complaint_id, principal)
    except OriginalUnreadable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if original is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
    return original
