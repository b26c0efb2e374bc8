"""No route resolves two dependencies concurrently.

Litestar resolves the dependencies of one level of the graph in an anyio task group, a task
each (a quarter of the API's CPU on a poll when ``easypay`` and ``principal`` were siblings);
``api.auth.provide_principal`` takes ``easypay`` so the two come one after the other.
"""

from __future__ import annotations

from litestar.routes import HTTPRoute

from engine.settings import Settings


def test_every_route_resolves_its_dependencies_one_at_a_time(settings: Settings) -> None:
    from api.app import create_app

    app = create_app(settings, configure_logs=False)
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, kwargs_model in route.route_handler_map.values():
            sizes = [len(batch) for batch in kwargs_model.dependency_batches]
            assert all(size == 1 for size in sizes), (route.path, handler.handler_name, sizes)
            checked += bool(sizes)
    assert checked > 20  # the payment, refund, key, user... routes all have dependencies


def test_a_route_with_only_the_principal_gets_it(settings: Settings) -> None:
    """``principal`` alone still pulls ``easypay`` in before it (and the handler gets only what it declares)."""
    from api.app import create_app

    app = create_app(settings, configure_logs=False)
    route = next(r for r in app.routes if isinstance(r, HTTPRoute) and r.path == "/v1/audit-logs")
    _, kwargs_model = route.route_handler_map["GET"]
    assert [sorted(d.key for d in batch) for batch in kwargs_model.dependency_batches] == [["easypay"], ["principal"]]
