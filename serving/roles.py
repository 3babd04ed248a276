"""API roles, defined once: `intake` submits complaints and reads the ones it submitted, `lead` works the review
queue and reads everything, `admin` does all of that and manages keys and the model."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["intake", "lead", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# Who may do what (the routes' dependencies check these).
SUBMIT: tuple[Role, ...] = ("intake", "admin")
READ: tuple[Role, ...] = ROLES
LEAD: tuple[Role, ...] = ("lead", "admin")
ADMIN: tuple[Role, ...] = ("admin",)
