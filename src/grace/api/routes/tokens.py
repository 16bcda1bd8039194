"""API tokens (scope admin): list, create (the secret is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from grace.api.deps import Admin, GraceDep, Run
from grace.api.responses import JSONReply, reply
from grace.api.schemas import TokenCreate, TokenCreatedOut, TokenOut

router = APIRouter(prefix="/api/model-registry", tags=["tokens"])


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(
    grace: GraceDep, _: Admin, run: Run, include_revoked: bool = False
) -> JSONReply:
    return reply(
        [t.to_dict() for t in await run(grace.tokens.list_tokens, include_revoked=include_revoked)]
    )


@router.post("/tokens", response_model=TokenCreatedOut, status_code=201)
async def create_token(body: TokenCreate, grace: GraceDep, _: Admin, run: Run) -> JSONReply:
    token, secret = await run(grace.tokens.create, body.name, body.scopes)
    return reply({**token.to_dict(), "token": secret}, status_code=201)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
async def revoke_token(token_id: str, grace: GraceDep, _: Admin, run: Run) -> JSONReply:
    return reply((await run(grace.tokens.revoke, token_id)).to_dict())
