"""API tokens (scope admin): list, create (the secret is shown once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from grace.api.deps import Admin, GraceDep
from grace.api.schemas import TokenCreate, TokenCreatedOut, TokenOut

router = APIRouter(prefix="/api/model-registry", tags=["tokens"])


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(
    grace: GraceDep, _: Admin, include_revoked: bool = False
) -> list[dict[str, Any]]:
    return [t.to_dict() for t in grace.tokens.list_tokens(include_revoked=include_revoked)]


@router.post("/tokens", response_model=TokenCreatedOut, status_code=201)
async def create_token(body: TokenCreate, grace: GraceDep, _: Admin) -> dict[str, Any]:
    token, secret = grace.tokens.create(body.name, body.scopes)
    return {**token.to_dict(), "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut)
async def revoke_token(token_id: str, grace: GraceDep, _: Admin) -> dict[str, Any]:
    return grace.tokens.revoke(token_id).to_dict()
