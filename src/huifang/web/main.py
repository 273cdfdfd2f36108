"""The ASGI entry point for uvicorn and other servers: `huifang.web.main:app`."""

from __future__ import annotations

from huifang.web.app import create_app

app = create_app()
