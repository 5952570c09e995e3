"""Shared dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

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


async def get_reader(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role not in READ_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "reading needs an operator, leader or admin token")
    return principal


Reader = Annotated[Principal, Depends(get_reader)]


async def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin token")
    return principal


Admin = Annotated[Principal, Depends(get_admin)]


async def get_responder(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role not in (Role.OPERATOR, Role.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an operator or admin token")
    return principal


Responder = Annotated[Principal, Depends(get_responder)]
"""Operators and admins: they acknowledge and resolve alerts."""


async def get_integrator(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role is not Role.INTEGRATOR:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "publishing events needs an integrator key")
    return principal


Integrator = Annotated[Principal, Depends(get_integrator)]
