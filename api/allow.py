"""``OPTIONS`` (without CORS) answers ``204`` with an ``Allow`` listing every method of the resource.

Litestar 2 builds its automatic OPTIONS answer from the route as it stood when the path's first
handler was registered (litestar-org/litestar#4169, fixed in Litestar 3), so a path served by
several handlers of a controller listed only some of its methods. The app answers OPTIONS itself
from the finished route table. CORS preflights never get here: the CORS middleware answers them.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.routes import HTTPRoute


def allow_listing(request: Request[Any, Any, Any]) -> Response[None]:
    template = request.scope.get("path_template")
    methods = {"OPTIONS"}
    for route in request.app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            methods.update(route.methods)
    return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})
