"""Shared dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.state import AppState
from ioc.tokens import READ_ROLES, Principal, Role

_bearer = HTTPBearer(auto_error=False)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ioc
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_principal(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials else None
    principal = await state.tokens.principal(token)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def _allowing(roles: frozenset[Role], refusal: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through the principals of ``roles`` and refuses others (403)."""
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, refusal)
        return principal
    return check


Reader = Annotated[Principal, Depends(_allowing(READ_ROLES,
                                                "reading needs an operator, leader or admin token"))]
Admin = Annotated[Principal, Depends(_allowing(frozenset({Role.ADMIN}), "this needs an admin token"))]
Responder = Annotated[Principal, Depends(_allowing(frozenset({Role.OPERATOR, Role.ADMIN}),
                                                   "this needs an operator or admin token"))]
"""Operators and admins: they acknowledge and resolve alerts."""
Integrator = Annotated[Principal, Depends(_allowing(frozenset({Role.INTEGRATOR}),
                                                    "publishing events needs an integrator key"))]
