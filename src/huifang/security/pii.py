"""Personal data of the loan book, encrypted at rest: the one place that seals and reveals it.

The loan book keeps borrowers' ID numbers, mobiles, addresses and legal representatives'
ID numbers, contacts' phones and guarantors' ID numbers and mobiles only as ciphertexts
(`<field>_enc`, see `crypto.KeyRing.encrypt`); the fields searched exactly (a borrower's ID
number and mobile, a contact's phone) also keep a blind index (`<field>_hash`). Writers call
`seal` to get the column values, readers call `reveal` (or `borrower_pii`), search calls
`search_hash`; no other module touches the ciphertext columns. Masking for display stays in
the web layer (`web/pii.py`).

The ciphertext's associated data is ``<table>.<field>`` (e.g. ``borrowers.mobile``), so a
value copied into another column or table does not decrypt.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import Engine, Text, bindparam, select, table, update
from sqlalchemy import column as sa_column
from sqlalchemy.types import TypeDecorator

from huifang.security.crypto import ENV_VAR, PREFIX, KeyRing, load_keyring

# Encrypted fields per table, and those with a blind index for exact search.
FIELDS: dict[str, tuple[str, ...]] = {
    "borrowers": ("id_number", "mobile", "address", "legal_rep_id_number"),
    "contacts": ("phone",),
    "guarantors": ("id_number", "mobile"),
    "followup_attempts": ("contact_number",),
    "contact_changes": ("old_value", "new_value"),
}
HASHED: frozenset[tuple[str, str]] = frozenset(
    {
        ("borrowers", "id_number"),
        ("borrowers", "mobile"),
        ("contacts", "phone"),
        ("contact_changes", "new_value"),
    }
)
BATCH = 2000

_cache: dict[tuple[str | None, str], KeyRing] = {}


def current_ring() -> KeyRing:
    """The key ring of this process: ``HUIFANG_DATA_KEY`` or the key file under HUIFANG_HOME.

    Cached per (environment key, home), so a test or a process that changes either gets the
    matching ring; `forget_ring` drops the cache after `huifang keys rotate`."""
    from huifang.settings import load_settings

    home = load_settings().home
    cache_key = (os.environ.get(ENV_VAR), str(home))
    ring = _cache.get(cache_key)
    if ring is None:
        ring = _cache[cache_key] = load_keyring(home)
    return ring


def forget_ring() -> None:
    _cache.clear()


def context(tablename: str, field: str) -> str:
    """The associated data / index context of a field, e.g. ``borrowers.mobile``."""
    if field not in FIELDS.get(tablename, ()):
        raise ValueError(f"不是加密字段 / not an encrypted field: {tablename}.{field}")
    return f"{tablename}.{field}"


def seal(ring: KeyRing, tablename: str, values: Mapping[str, str | None]) -> dict[str, Any]:
    """Column values (``<field>_enc`` and, where searched, ``<field>_hash``) for plain values.

    An empty or missing value stays NULL (no ciphertext of the empty string)."""
    out: dict[str, Any] = {}
    for field, value in values.items():
        ctx = context(tablename, field)
        present = value is not None and value != ""
        out[f"{field}_enc"] = ring.encrypt(value, ctx) if present else None  # type: ignore[arg-type]
        if (tablename, field) in HASHED:
            out[f"{field}_hash"] = ring.blind_index(value, ctx) if present else None  # type: ignore[arg-type]
    return out


def reveal(ring: KeyRing, row: Any, field: str) -> str | None:
    """The plain value of `field` of a loan-book row (a Borrower, Contact or Guarantor)."""
    tablename = row.__tablename__
    token = getattr(row, f"{field}_enc")
    return None if token is None else ring.decrypt(token, context(tablename, field))


def reveal_value(ring: KeyRing, tablename: str, field: str, token: str | None) -> str | None:
    """`reveal` for a ciphertext read as a column (Core queries, raw rows)."""
    return None if token is None else ring.decrypt(token, context(tablename, field))


def search_hash(ring: KeyRing, tablename: str, field: str, value: str) -> str:
    """The blind index to compare with ``<field>_hash`` for an exact search."""
    if (tablename, field) not in HASHED:
        raise ValueError(f"字段不可检索 / not searchable: {tablename}.{field}")
    return ring.blind_index(value, context(tablename, field))


class SealedText(TypeDecorator[str]):
    """A column whose values are sealed on write and revealed on read, with this process's ring.

    For personal data written and read by many use cases through the ORM - the number
    dialled on a contact attempt - so no writer can forget to seal it. The database column
    is ``<field>_enc`` holding the same ciphertext as `seal` writes (associated data
    ``<table>.<field>``), so key rotation (`reencrypt_book`) covers it like the others."""

    impl = Text
    cache_ok = True

    def __init__(self, tablename: str, field: str) -> None:
        super().__init__()
        self.ctx = context(tablename, field)

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else current_ring().encrypt(value, self.ctx)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else current_ring().decrypt(value, self.ctx)


class BorrowerPII(NamedTuple):
    id_number: str
    mobile: str
    address: str | None
    legal_rep_id_number: str | None


def borrower_pii(ring: KeyRing, borrower: Any) -> BorrowerPII:
    """All personal fields of a borrower, decrypted."""
    return BorrowerPII(
        id_number=reveal(ring, borrower, "id_number") or "",
        mobile=reveal(ring, borrower, "mobile") or "",
        address=reveal(ring, borrower, "address"),
        legal_rep_id_number=reveal(ring, borrower, "legal_rep_id_number"),
    )


def reencrypt_book(engine: Engine, ring: KeyRing, *, batch: int = BATCH) -> dict[str, int]:
    """Move every ciphertext of the loan book to the active key, one transaction per batch.

    Values already under the active key are left alone, so the job can be stopped and run
    again (docs/security.md, "Key rotation"). Returns the number of values re-encrypted per
    ``table.field``."""
    done: dict[str, int] = {}
    current = f"{PREFIX}:{ring.active}:%"
    for tablename, fields in FIELDS.items():
        for field in fields:
            col = f"{field}_enc"
            t = table(tablename, sa_column("id"), sa_column(col))
            stmt = update(t).where(t.c.id == bindparam("row_id")).values({col: bindparam("token")})
            ctx = context(tablename, field)
            count, last = 0, None
            while True:
                with engine.begin() as conn:
                    q = (
                        select(t.c.id, t.c[col])
                        .where(t.c[col].is_not(None), t.c[col].not_like(current))
                        .order_by(t.c.id)
                        .limit(batch)
                    )
                    if last is not None:
                        q = q.where(t.c.id > last)
                    rows = conn.execute(q).all()
                    if not rows:
                        break
                    conn.execute(
                        stmt,
                        [{"row_id": r[0], "token": ring.reencrypt(r[1], ctx)} for r in rows],
                    )
                    count += len(rows)
                    last = rows[-1][0]
            done[f"{tablename}.{field}"] = count
    return done


def stale_key_ids(engine: Engine, ring: KeyRing) -> set[str]:
    """Key ids other than the active one still named by some ciphertext of the book."""
    found: set[str] = set()
    with engine.connect() as conn:
        for tablename, fields in FIELDS.items():
            for field in fields:
                col = f"{field}_enc"
                t = table(tablename, sa_column(col))
                for kid in ring.keys:
                    if kid == ring.active:
                        continue
                    hit = conn.execute(
                        select(t.c[col]).where(t.c[col].like(f"{PREFIX}:{kid}:%")).limit(1)
                    ).first()
                    if hit is not None:
                        found.add(kid)
    return found
