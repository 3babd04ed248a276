"""Everything a route or a page needs from the request, as `Annotated` dependencies: the runtime and its store,
the intake (503 until the model is loaded), the caller's API key and role (401, 403), a complaint the caller may
read (404), and the signed-in lead of the review pages. `request.app.state` is read here and nowhere else.

Roles: `intake` submits and reads its own complaints, `lead` reviews and reads everything, `admin` does all of
that and manages keys and the model (`serving/roles.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.intake import Intake
from serving.roles import ADMIN, LEAD, READ, SUBMIT, Role
from serving.runtime import Runtime
from serving.store import ComplaintRecord, Principal, Store


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_runtime(request: Request) -> Runtime:
    # async: resolved on the event loop, so the probes that need only this never wait for the thread pool
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_store(runtime: RuntimeDep) -> Store:
    return runtime.store


StoreDep = Annotated[Store, Depends(get_store)]


def ready_intake(runtime: Runtime) -> Intake:
    """The intake, or 503 while the model is not loaded (or could not be)."""
    if runtime.intake is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the model is not loaded yet" + (f": {runtime.error}" if runtime.error else ""),
                            headers={"Retry-After": str(runtime.settings.retry_after_seconds)})
    return runtime.intake


def get_intake(runtime: RuntimeDep) -> Intake:
    return ready_intake(runtime)


IntakeDep = Annotated[Intake, Depends(get_intake)]


# ---- API keys and roles ------------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: <key>`")


def current_principal(request: Request, store: StoreDep,
                      bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      header: Annotated[str | None, Depends(_header)]) -> Principal:
    secret = bearer.credentials if bearer else header
    if not secret:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is needed: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = store.authenticate(secret)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal  # the request log names the key
    return principal


def require(roles: tuple[Role, ...]) -> Callable[..., Principal]:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"the role {principal.role!r} may not do this; it needs {' or '.join(roles)}")
        return principal

    return check


AnyRole = Annotated[Principal, Depends(current_principal)]
Submitter = Annotated[Principal, Depends(require(SUBMIT))]
Reader = Annotated[Principal, Depends(require(READ))]
Lead = Annotated[Principal, Depends(require(LEAD))]
Admin = Annotated[Principal, Depends(require(ADMIN))]


def readable_complaint(complaint_id: str, principal: Reader, store: StoreDep) -> ComplaintRecord:
    """The complaint of the path, or 404: also when an `intake` key asks for one it did not submit. An id that is
    personal data is looked up by its reference (`serving.privacy`), and the 404 names only the reference."""
    complaint_id = store.complaint_key(complaint_id)
    record = store.complaint(complaint_id)
    if record is None or (principal.role == "intake" and record.submitted_by != principal.key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
    return record


ReadableComplaint = Annotated[ComplaintRecord, Depends(readable_complaint)]


# ---- the review pages: a signed-in lead, not an API key ----------------------------------------------
class SignInRequired(Exception):
    """The page needs a signed-in lead or admin: answered with a redirect to /login (`serving.pages`)."""


class PagesNotReady(Exception):
    """The model is not loaded: the pages answer 503 with a page that says why (`serving.pages`)."""

    def __init__(self, error: str | None):
        super().__init__(error or "loading")
        self.error = error


SESSION_TOKEN = "sid"  # the session cookie's field with the token of a server-side session (serving.pages.session)


def signed_in(request: Request) -> Principal | None:
    """The signed-in lead or admin: the cookie's session token looked up in the store on every request (ended
    by logout, by revoking its key, after the idle timeout or the session's lifetime; a role that may not review
    ends it too); None when nobody is."""
    token = request.session.get(SESSION_TOKEN)
    if not isinstance(token, str):
        return None
    runtime = runtime_of(request)
    settings = runtime.settings
    principal = runtime.store.session_principal(token, settings.session_idle_timeout, settings.session_lifetime)
    if principal is None or principal.role not in LEAD:
        if principal is not None:  # an ended or unknown session has no row left to delete
            runtime.store.end_session(token)
        request.session.clear()
        return None
    request.state.principal = principal  # the request log names the key
    return principal


def signed_in_lead(request: Request) -> Principal:
    principal = signed_in(request)
    if principal is None:
        raise SignInRequired()
    return principal


Viewer = Annotated[Principal, Depends(signed_in_lead)]


def page_intake(runtime: Runtime) -> Intake:
    """The intake a signed-in lead's page reads, or the page that says the model is not loaded."""
    if runtime.intake is None:
        raise PagesNotReady(runtime.error)
    return runtime.intake


def get_page_intake(_viewer: Viewer, runtime: RuntimeDep) -> Intake:
    return page_intake(runtime)


PageIntake = Annotated[Intake, Depends(get_page_intake)]
