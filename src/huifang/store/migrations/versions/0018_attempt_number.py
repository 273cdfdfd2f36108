"""attempt_number: seal the number dialled on each contact attempt

`followup_attempts.contact_number` held the dialled phone number in clear. This adds
`contact_number_enc`, encrypts the existing rows with the data key ring (associated data
``followup_attempts.contact_number``, as `security.pii.SealedText` writes), and drops the
plain column. The downgrade decrypts back.

Revision ID: 0018
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huifang.store.migration_support import (
    convert_rows,
    data_keyring,
    has_rows,
    sqlite_foreign_keys_off,
)

revision = "0018"
down_revision = "0001"
branch_labels = ("attempt_pii",)
depends_on = ("0002",)

TABLE = "followup_attempts"
CONTEXT = "followup_attempts.contact_number"


def upgrade() -> None:
    with sqlite_foreign_keys_off():
        with op.batch_alter_table(TABLE) as batch_op:
            batch_op.add_column(sa.Column("contact_number_enc", sa.Text(), nullable=True))
        if has_rows(TABLE):
            ring = data_keyring()
            convert_rows(
                TABLE,
                ["contact_number"],
                lambda r: {
                    "contact_number_enc": ring.encrypt(r.contact_number, CONTEXT)
                    if r.contact_number is not None
                    else None
                },
            )
        with op.batch_alter_table(TABLE) as batch_op:
            batch_op.drop_column("contact_number")
            batch_op.alter_column("contact_number_enc", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with sqlite_foreign_keys_off():
        with op.batch_alter_table(TABLE) as batch_op:
            batch_op.add_column(sa.Column("contact_number", sa.String(120), nullable=True))
        if has_rows(TABLE):
            ring = data_keyring()
            convert_rows(
                TABLE,
                ["contact_number_enc"],
                lambda r: {
                    "contact_number": ring.decrypt(r.contact_number_enc, CONTEXT)
                    if r.contact_number_enc is not None
                    else ""
                },
            )
        with op.batch_alter_table(TABLE) as batch_op:
            batch_op.drop_column("contact_number_enc")
            batch_op.alter_column("contact_number", existing_type=sa.String(120), nullable=False)
