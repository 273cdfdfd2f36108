"""Helpers shared by data migrations that rewrite rows (e.g. encrypting a column).

Alembic loads revision files by path, so code two revisions need lives here. Revisions that
use these helpers must keep working when the helpers change: they take everything they
need (table, columns, conversion) as arguments and assume nothing about the models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

BATCH = 2000


@contextmanager
def sqlite_foreign_keys_off() -> Iterator[None]:
    """SQLite: rebuild tables (batch mode) without foreign-key enforcement.

    Rebuilding a table other tables point at fails or cascades with enforcement on, and the
    pragma is ignored inside a transaction: end Alembic's transaction, switch enforcement off,
    do the work in a new one, check `PRAGMA foreign_key_check`, and switch it on again before
    Alembic records the revision. Other databases: nothing to do."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign key check failed after rebuild: {broken[:5]}")
        bind.exec_driver_sql("COMMIT")
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN IMMEDIATE")
        raise
    bind.exec_driver_sql("PRAGMA foreign_keys=ON")
    bind.exec_driver_sql("BEGIN IMMEDIATE")


def convert_rows(
    tablename: str, reads: list[str], convert: Callable[[Any], dict[str, Any]]
) -> None:
    """Rewrite every row of `tablename` in batches of BATCH, keyed by id.

    `convert` gets a row with ``id`` and the `reads` columns and returns the columns to write."""
    bind = op.get_bind()
    t = sa.table(tablename, sa.column("id"), *(sa.column(c) for c in reads))
    last = None
    while True:
        q = sa.select(*t.c).order_by(t.c.id).limit(BATCH)
        if last is not None:
            q = q.where(t.c.id > last)
        rows = bind.execute(q).all()
        if not rows:
            return
        params = [{"row_id": r.id, **convert(r)} for r in rows]
        writes = [k for k in params[0] if k != "row_id"]
        wt = sa.table(tablename, sa.column("id"), *(sa.column(c) for c in writes))
        bind.execute(
            sa.update(wt)
            .where(wt.c.id == sa.bindparam("row_id"))
            .values({c: sa.bindparam(f"v_{c}") for c in writes}),
            [{"row_id": p["row_id"], **{f"v_{c}": p[c] for c in writes}} for p in params],
        )
        last = rows[-1].id


def has_rows(*tablenames: str) -> bool:
    bind = op.get_bind()
    return any(
        bind.execute(sa.select(sa.literal(1)).select_from(sa.table(t)).limit(1)).first()
        for t in tablenames
    )


def data_keyring():  # type: ignore[no-untyped-def]
    """The application's data key ring (created on first use, as the application would)."""
    from huifang.security.crypto import load_keyring
    from huifang.settings import load_settings

    return load_keyring(load_settings().home)
