"""risk: vehicle inspections, collateral valuations, early-warning alerts, tier history

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = ("risk",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contract_no", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=60), nullable=False),
        sa.Column("rule_version", sa.String(length=40), nullable=False),
        sa.Column("episode", sa.String(length=120), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("title_zh", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("first_seen_on", sa.Date(), nullable=False),
        sa.Column("last_seen_on", sa.Date(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=60), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=60), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_risk_alerts_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_risk_alerts_key")),
    )
    op.create_index(
        "ix_risk_alerts_loan_rule_status",
        "risk_alerts",
        ["loan_id", "rule_id", "status"],
        unique=False,
    )
    op.create_index("ix_risk_alerts_status", "risk_alerts", ["status"], unique=False)
    op.create_table(
        "risk_tier_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("previous_tier", sa.String(length=8), nullable=True),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("settings_version", sa.String(length=40), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_risk_tier_history_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_tier_history")),
    )
    op.create_index(
        "ix_risk_tier_history_loan_kind",
        "risk_tier_history",
        ["loan_id", "kind", "as_of"],
        unique=False,
    )
    op.create_table(
        "vehicle_inspections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "vehicle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspector", sa.String(length=60), nullable=False),
        sa.Column("mileage_km", sa.Integer(), nullable=True),
        sa.Column("condition", sa.String(length=12), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_vehicle_inspections_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_vehicle_inspections_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_inspections")),
        sa.UniqueConstraint(
            "vehicle_id", "inspected_on", "inspector", name="uq_vehicle_inspections_visit"
        ),
    )
    op.create_index(
        op.f("ix_vehicle_inspections_vehicle_id"),
        "vehicle_inspections",
        ["vehicle_id"],
        unique=False,
    )
    op.create_table(
        "collateral_valuations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "vehicle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("params_version", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("outstanding_principal", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("ltv", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("ltv_band", sa.String(length=16), nullable=True),
        sa.Column("curve", sa.String(length=40), nullable=False),
        sa.Column("age_months", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("mileage_km", sa.Integer(), nullable=False),
        sa.Column("mileage_source", sa.String(length=12), nullable=False),
        sa.Column("base_retention", sa.Numeric(precision=9, scale=4), nullable=False),
        sa.Column("mileage_factor", sa.Numeric(precision=9, scale=4), nullable=False),
        sa.Column("condition", sa.String(length=12), nullable=False),
        sa.Column("condition_factor", sa.Numeric(precision=9, scale=4), nullable=False),
        sa.Column(
            "inspection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["vehicle_inspections.id"],
            name=op.f("fk_collateral_valuations_inspection_id_vehicle_inspections"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_collateral_valuations_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_collateral_valuations_vehicle_id_vehicles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_valuations")),
        sa.UniqueConstraint(
            "loan_id", "as_of", "params_version", name="uq_collateral_valuations_day"
        ),
    )


def downgrade() -> None:
    op.drop_table("collateral_valuations")
    op.drop_index(op.f("ix_vehicle_inspections_vehicle_id"), table_name="vehicle_inspections")
    op.drop_table("vehicle_inspections")
    op.drop_index("ix_risk_tier_history_loan_kind", table_name="risk_tier_history")
    op.drop_table("risk_tier_history")
    op.drop_index("ix_risk_alerts_status", table_name="risk_alerts")
    op.drop_index("ix_risk_alerts_loan_rule_status", table_name="risk_alerts")
    op.drop_table("risk_alerts")
