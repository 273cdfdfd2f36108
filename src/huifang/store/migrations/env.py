"""Alembic environment: the engine comes from the caller (`huifang db upgrade`, tests)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from huifang.settings import load_settings
from huifang.store.db import make_engine
from huifang.store.models import Base

config = context.config
engine: Engine = config.attributes.get("engine") or make_engine(load_settings().database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
