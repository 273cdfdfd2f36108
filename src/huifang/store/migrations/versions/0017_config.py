"""config: stored versions of the follow-up policy, the contact policy and the scripts

Revision ID: 0017
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0001"
branch_labels = ("config",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("id", Id, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("based_on_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["based_on_id"],
            ["config_versions.id"],
            name=op.f("fk_config_versions_based_on_id_config_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_versions")),
        sa.UniqueConstraint("kind", "name", "version", name="uq_config_versions_kind_name_version"),
    )
    op.create_table(
        "config_active",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version_id", Id, nullable=True),
        sa.Column("activated_by", sa.String(length=60), nullable=False),
        sa.Column("activated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["config_versions.id"],
            name=op.f("fk_config_active_version_id_config_versions"),
        ),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_config_active")),
    )


def downgrade() -> None:
    op.drop_table("config_active")
    op.drop_table("config_versions")
