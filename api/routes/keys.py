"""``/api/v1/keys``: admins create, list and revoke API keys."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from api.deps import Admin, State
from api.params import RowId, Text
from ioc.storage.audit import audit
from ioc.storage.keys import (
    KeyRequestError,
    create_key_async,
    list_keys_async,
    revoke_key_async,
)
from ioc.tokens import Role

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class KeyRequest(BaseModel):
    name: Text = Field(min_length=1, description="who or what holds the key")
    role: Role = Role.INTEGRATOR
    sources: list[Text] | None = Field(max_length=1000,
        default=None, description="sources an integrator key may publish for; null: any")


class Key(BaseModel):
    id: int
    role: str
    name: str
    sources: list[str] | None
    created_at: str
    created_by: str | None
    revoked_at: str | None
    revoked_by: str | None


class CreatedKey(Key):
    token: str = Field(description="shown once; only its SHA-256 digest is stored")


@router.post("", status_code=201, response_model=CreatedKey,
             responses={400: {"description": "sources on a non-integrator key, or malformed"}})
async def create(body: KeyRequest, state: State, admin: Admin) -> CreatedKey:
    """Create a key. The token is in this answer only."""
    async with state.pool.connection() as conn:
        try:
            made = await create_key_async(conn, body.role, body.name, body.sources,
                                          f"api:{admin.name}")
        except KeyRequestError as exc:
            raise HTTPException(400, str(exc)) from None
        await audit(conn, admin, "key.create", f"key:{made.info.id}",
                    {"role": made.info.role.value, "name": made.info.name,
                     "sources": list(made.info.sources) if made.info.sources is not None else None})
    return CreatedKey(**made.info.as_json(), token=made.token)


@router.get("", response_model=list[Key])
async def list_all(state: State, _: Admin) -> list[Key]:
    """Every key, active and revoked; never the tokens."""
    async with state.pool.connection() as conn:
        return [Key(**k.as_json()) for k in await list_keys_async(conn)]


@router.post("/{key_id}/revoke", response_model=Key,
             responses={404: {"description": "no active key with that id"}})
async def revoke(key_id: RowId, state: State, admin: Admin) -> Key:
    """Revoke a key at once in this process; other API processes within 10 s."""
    async with state.pool.connection() as conn:
        if not await revoke_key_async(conn, key_id, f"api:{admin.name}"):
            raise HTTPException(404, f"no active key with id {key_id}")
        await audit(conn, admin, "key.revoke", f"key:{key_id}", {})
        found = [k for k in await list_keys_async(conn) if k.id == key_id]
    state.tokens.forget()
    return Key(**found[0].as_json())
