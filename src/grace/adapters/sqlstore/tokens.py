"""The session's API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    func,
    insert,
    select,
    update,
)

from grace.adapters.sqlstore.hotpath import (
    Q_TOKEN_ACTIVE_SINCE,
)
from grace.adapters.sqlstore.rows import (
    row_token,
)
from grace.adapters.sqlstore.schema import (
    api_tokens,
)
from grace.adapters.sqlstore.session import SessionBase
from grace.adapters.store import (
    MAX_PAGE_SIZE,
)
from grace.domain.tokens import ApiToken, Scope
from grace.errors import (
    TokenNotFound,
)


class TokenSession(SessionBase):
    """The session's API tokens."""

    # -- API tokens ------------------------------------------------------------------------------
    def insert_token(
        self, token_id: str, name: str, secret_hash: str, scopes: frozenset[Scope], at: datetime
    ) -> ApiToken:
        self._conn.execute(
            insert(api_tokens).values(
                token_id=token_id,
                name=name,
                secret_hash=secret_hash,
                scopes=sorted(s.value for s in scopes),
                created_at=at,
            )
        )
        found = self.get_token_secret(token_id)
        if found is None:  # pragma: no cover - just inserted
            raise TokenNotFound(token_id)
        return found[0]

    def get_token_secret(self, token_id: str) -> tuple[ApiToken, str] | None:
        row = self._conn.execute(
            select(api_tokens).where(api_tokens.c.token_id == token_id)
        ).first()
        if row is None:
            return None
        return row_token(row), str(row.secret_hash)

    def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        query = select(api_tokens).order_by(api_tokens.c.id).limit(MAX_PAGE_SIZE)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        return [row_token(r) for r in self._conn.execute(query)]

    def revoke_token(self, token_id: str, at: datetime) -> ApiToken:
        self._conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        found = self.get_token_secret(token_id)
        if found is None:
            raise TokenNotFound(token_id)
        return found[0]

    def count_active_tokens(self) -> int:
        return int(
            self._conn.execute(
                select(func.count()).where(api_tokens.c.revoked_at.is_(None))
            ).scalar_one()
        )

    def token_active_since(self, at: datetime) -> bool:
        return bool(self._conn.execute(Q_TOKEN_ACTIVE_SINCE, {"at": at}).scalar())

    def touch_token(self, token_id: str, at: datetime) -> None:
        self._conn.execute(
            update(api_tokens).where(api_tokens.c.token_id == token_id).values(last_used_at=at)
        )
