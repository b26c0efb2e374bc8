"""The dashboard: server-rendered pages under ``/dashboard/`` for user accounts, with the API's
roles, permissions and tenancy (``api.dashboard.guard``), its sign-in checks and its engine code.

Jinja2 templates (autoescaped) and htmx, served from ``static/`` by the API itself: no page loads
anything from elsewhere, and the API's ``Content-Security-Policy: default-src 'self'`` holds.

The pages are mounted by ``api.dashboard.routes``; this module imports nothing, so ``api.state``
can use ``api.dashboard.sessions`` without loading every page.
"""
