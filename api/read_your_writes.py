"""Read-your-writes with a read replica: a credential that has just written reads from the primary.

``recent_writes_middleware`` sets the credential's recent-write marker (``engine.recent_writes``)
after every successful POST, PUT, PATCH or DELETE, before the answer leaves: by the time the client
can send its next request, every API process routes that client's reads to the primary. Nothing
is done without a replica (``DATABASE_READ_URL`` unset).
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from engine.auth import Principal
from engine.db.read_routing import actor_key

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def reader(principal: Principal) -> str:
    """Whose reads a routed read is (the key of its recent-write marker)."""
    return actor_key(principal.actor_type, principal.actor_id)


def recent_writes_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WRITES:
            await app(scope, receive, send)
            return

        async def send_after_marking(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                principal: Principal | None = scope.get("state", {}).get("principal")
                markers = scope["app"].state.easypay.read_router.recent_writes
                if principal is not None and markers is not None:
                    await markers.mark(reader(principal))
            await send(message)

        await app(scope, receive, send_after_marking)

    return middleware
