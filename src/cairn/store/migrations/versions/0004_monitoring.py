"""Metrics of runs and block runs; alert incidents and their deliveries.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("queued_at", sa.DateTime))
        batch.add_column(sa.Column("rows_out", sa.BigInteger))
        batch.add_column(sa.Column("output_bytes", sa.BigInteger))
        batch.add_column(sa.Column("peak_memory_bytes", sa.BigInteger))
        batch.add_column(sa.Column("cpu_seconds", sa.Float))
    with op.batch_alter_table("block_runs") as batch:
        batch.add_column(sa.Column("queued_at", sa.DateTime))
        batch.add_column(sa.Column("rows_in", sa.BigInteger))
        batch.add_column(sa.Column("cpu_seconds", sa.Float))
    op.create_index("ix_runs_started", "runs", ["pipeline", "started_at"])
    op.create_table(
        "alert_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("channels", sa.Text, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.UniqueConstraint("pipeline", "event", "key", name="uq_alert_incidents_key"),
    )
    op.create_index("ix_alert_incidents_open", "alert_incidents", ["done"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("alert_incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_alert_deliveries_incident", "alert_deliveries", ["incident_id"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alert_incidents")
    op.drop_index("ix_runs_started", "runs")
    with op.batch_alter_table("block_runs") as batch:
        for column in ("cpu_seconds", "rows_in", "queued_at"):
            batch.drop_column(column)
    with op.batch_alter_table("runs") as batch:
        for column in ("cpu_seconds", "peak_memory_bytes", "output_bytes", "rows_out",
                       "queued_at"):
            batch.drop_column(column)
