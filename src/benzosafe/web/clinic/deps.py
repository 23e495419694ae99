"""Request-scoped pieces shared by the pages and the API: the database session and the user.

``Ctx`` bundles the open session, the signed-in user and the audit actor. Endpoints
commit explicitly (``ctx.commit()``) before they answer, so a client never sees success for
a write that did not commit; an exception closes the session and rolls everything back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from benzosafe.store.limits import INTEGER_MAX
from benzosafe.store.records import Actor
from benzosafe.store.user_sessions import SignedIn
from benzosafe.web.clinic.auth import actor_of, current_user, require

#: A record's id in a path: a positive ``Integer`` (32-bit on PostgreSQL), else a 422 naming
#: it, on every database (not a database error on one and "not found" on the other).
RowId = Annotated[int, Path(ge=1, le=INTEGER_MAX)]
#: The same as an optional query parameter.
OptionalRowId = Annotated[int | None, Query(ge=1, le=INTEGER_MAX)]
#: A count or position in a query (``limit``, ``offset``), as the databases can take it.
Count = Annotated[int, Query(ge=0, le=INTEGER_MAX)]


async def db_session(request: Request) -> AsyncIterator[Session]:
    """The request's database session. Opened and closed on the event loop, not in a worker
    thread: opening touches no database, and closing is free after the endpoint committed
    (it only rolls back what an endpoint left uncommitted, one round trip). A sync
    dependency would take two trips through the thread pool per request (issue #18)."""
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


@dataclass(slots=True)
class Ctx:
    request: Request
    db: Session
    user: SignedIn
    actor: Actor

    def commit(self) -> None:
        self.db.commit()


def ctx(permission: str) -> Callable[..., Ctx]:
    """A dependency giving a :class:`Ctx` for a user holding ``permission``."""
    check = require(permission)

    def dependency(request: Request, db: Session = Depends(db_session)) -> Ctx:
        user = check(current_user(request, db))
        return Ctx(request, db, user, actor_of(user))

    return dependency
