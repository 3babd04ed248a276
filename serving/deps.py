"""API keys and roles: `intake` submits and reads its own complaints, `lead` reviews and reads everything,
`admin` does all of that and manages keys and the model. 401 without a valid key, 403 for the wrong role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.store import Principal

SUBMIT = ("intake", "admin")
READ = ("intake", "lead", "admin")
LEAD = ("lead", "admin")
ADMIN = ("admin",)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: <key>`")


def current_principal(request: Request,
                      bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      header: Annotated[str | None, Depends(_header)]) -> Principal:
    secret = bearer.credentials if bearer else header
    if not secret:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is needed: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = request.app.state.runtime.store.authenticate(secret)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


def require(roles: tuple[str, ...]) -> Callable[..., Principal]:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"the role {principal.role!r} may not do this; it needs {' or '.join(roles)}")
        return principal

    return check
