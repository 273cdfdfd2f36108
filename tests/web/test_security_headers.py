"""The security headers on every response, set by the ASGI middleware of the web app; a
header a route set itself is kept, and the API docs page gets no Content-Security-Policy
(Swagger UI loads its scripts from a CDN)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from huifang.web.app import SecurityHeaders


def _app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.add_middleware(SecurityHeaders)

    @app.get("/page")
    def page() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/framed")
    def framed() -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"X-Frame-Options": "SAMEORIGIN"})

    @app.get("/docs/x")
    def docs() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


def test_every_response_carries_the_security_headers() -> None:
    client = TestClient(_app())
    for path in ("/page", "/missing"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers.get_list("x-frame-options") == ["DENY"]


def test_a_routes_own_header_is_kept_and_docs_get_no_csp() -> None:
    client = TestClient(_app())
    assert client.get("/framed").headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    docs = client.get("/docs/x")
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff"
