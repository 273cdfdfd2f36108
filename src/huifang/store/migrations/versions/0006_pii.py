"""pii: encrypt the loan book's personal data at rest

Adds ciphertext (`*_enc`) and blind-index (`*_hash`) columns, encrypts the existing rows in
batches with the data key ring (HUIFANG_DATA_KEY or $HUIFANG_HOME/keys/data-keys.json, the
same keys the application uses; created on first use when the database holds personal data
and no key exists yet), then drops the plain-text columns. The downgrade decrypts back.

On SQLite the tables are rebuilt (batch mode), which needs foreign-key enforcement off while
`borrowers` is swapped: the migration ends the open transaction, switches enforcement off,
does its work in a new transaction, checks `PRAGMA foreign_key_check`, and switches it on
again before Alembic records the revision.

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huifang.store.migration_support import convert_rows as _convert
from huifang.store.migration_support import data_keyring as _ring
from huifang.store.migration_support import has_rows
from huifang.store.migration_support import sqlite_foreign_keys_off as _foreign_keys_off

revision = "0006"
down_revision = "0001"
branch_labels = ("pii",)
depends_on = None

# Frozen copy of security/pii.py's field list at this revision: (table, field, old type,
# nullable, blind index).
_FIELDS = (
    ("borrowers", "id_number", sa.String(18), False, "unique"),
    ("borrowers", "mobile", sa.String(20), False, "index"),
    ("borrowers", "address", sa.String(200), True, None),
    ("borrowers", "legal_rep_id_number", sa.String(18), True, None),
    ("contacts", "phone", sa.String(24), False, "index"),
    ("guarantors", "id_number", sa.String(18), True, None),
    ("guarantors", "mobile", sa.String(20), True, None),
)
_TABLES = ("borrowers", "contacts", "guarantors")


def upgrade() -> None:
    with _foreign_keys_off():
        for tablename in _TABLES:
            with op.batch_alter_table(tablename) as batch_op:
                for t, field, _type, _null, index in _FIELDS:
                    if t != tablename:
                        continue
                    batch_op.add_column(sa.Column(f"{field}_enc", sa.Text(), nullable=True))
                    if index:
                        batch_op.add_column(
                            sa.Column(f"{field}_hash", sa.String(64), nullable=True)
                        )
        if has_rows(*_TABLES):
            ring = _ring()
            for tablename in _TABLES:
                fields = [(f, idx) for t, f, _ty, _n, idx in _FIELDS if t == tablename]

                def seal(row: sa.Row, fields=fields, tablename=tablename) -> dict:  # type: ignore[no-untyped-def, type-arg]
                    out = {}
                    for field, index in fields:
                        value = getattr(row, field)
                        ctx = f"{tablename}.{field}"
                        present = value is not None and value != ""
                        out[f"{field}_enc"] = ring.encrypt(value, ctx) if present else None
                        if index:
                            out[f"{field}_hash"] = ring.blind_index(value, ctx) if present else None
                    return out

                _convert(tablename, [f for f, _ in fields], seal)
        for tablename in _TABLES:
            with op.batch_alter_table(tablename) as batch_op:
                if tablename == "borrowers":
                    batch_op.drop_constraint("uq_borrowers_id_number", type_="unique")
                for t, field, _type, nullable, index in _FIELDS:
                    if t != tablename:
                        continue
                    batch_op.drop_column(field)
                    batch_op.alter_column(
                        f"{field}_enc", existing_type=sa.Text(), nullable=nullable
                    )
                    if index:
                        batch_op.alter_column(
                            f"{field}_hash", existing_type=sa.String(64), nullable=nullable
                        )
                    if index == "unique":
                        batch_op.create_unique_constraint(
                            f"uq_{tablename}_{field}_hash", [f"{field}_hash"]
                        )
                    elif index == "index":
                        batch_op.create_index(
                            f"ix_{tablename}_{field}_hash", [f"{field}_hash"], unique=False
                        )


def downgrade() -> None:
    with _foreign_keys_off():
        for tablename in _TABLES:
            with op.batch_alter_table(tablename) as batch_op:
                for t, field, type_, _null, _index in _FIELDS:
                    if t == tablename:
                        batch_op.add_column(sa.Column(field, type_, nullable=True))
        if has_rows(*_TABLES):
            ring = _ring()
            for tablename in _TABLES:
                fields = [f for t, f, _ty, _n, _i in _FIELDS if t == tablename]

                def open_(row: sa.Row, fields=fields, tablename=tablename) -> dict:  # type: ignore[no-untyped-def, type-arg]
                    out = {}
                    for field in fields:
                        token = getattr(row, f"{field}_enc")
                        ctx = f"{tablename}.{field}"
                        out[field] = None if token is None else ring.decrypt(token, ctx)
                    return out

                _convert(tablename, [f"{f}_enc" for f in fields], open_)
        for tablename in _TABLES:
            with op.batch_alter_table(tablename) as batch_op:
                for t, field, type_, nullable, index in _FIELDS:
                    if t != tablename:
                        continue
                    if index == "unique":
                        batch_op.drop_constraint(f"uq_{tablename}_{field}_hash", type_="unique")
                    elif index == "index":
                        batch_op.drop_index(f"ix_{tablename}_{field}_hash")
                    if index:
                        batch_op.drop_column(f"{field}_hash")
                    batch_op.drop_column(f"{field}_enc")
                    batch_op.alter_column(field, existing_type=type_, nullable=nullable)
                if tablename == "borrowers":
                    batch_op.create_unique_constraint("uq_borrowers_id_number", ["id_number"])
