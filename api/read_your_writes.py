"""Read-your-writes with a read replica: a credential that has just written reads from the primary.

``mark_write`` (run by the API's middleware) sets the credential's recent-write marker (``engine.recent_writes``)
after every successful POST, PUT, PATCH or DELETE, before the answer leaves: by the time the client
can send its next request, every API process routes that client's reads to the primary. Nothing
is done without a replica (``DATABASE_READ_URL`` unset).
"""

from __future__ import annotations

from litestar.types import HTTPScope

from engine.auth import Principal
from engine.db.read_routing import actor_key
from api.state import app_state

#: The methods whose success marks a recent writer.
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def reader(principal: Principal) -> str:
    """Whose reads a routed read is (the key of its recent-write marker)."""
    return actor_key(principal.actor_type, principal.actor_id)


async def mark_write(scope: HTTPScope, status: int) -> None:
    """Called by ``api.middleware.api_middleware`` as a write's answer starts (before it is sent):
    a successful POST, PUT, PATCH or DELETE marks its credential as a recent writer."""
    if status >= 400 or scope.get("method") not in WRITES:
        return
    principal: Principal | None = scope["state"].get("principal")
    markers = app_state(scope["app"]).read_router.recent_writes
    if principal is not None and markers is not None:
        await markers.mark(reader(principal))
