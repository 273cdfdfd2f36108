"""The web application: FastAPI + Jinja2/HTMX pages and the JSON API under /api/v1.

Routers translate HTTP to service calls and nothing else; every route declares the permission
it needs through `deps.require` (or `deps.public` for the login page and static files)."""
