"""Routers: `pages` (HTML) and `api` (JSON under /api/v1), both over the same services."""
