"""Scheduled runs and trigger state.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger", sa.String(255)))
        batch.add_column(sa.Column("trigger_key", sa.String(1024)))
        batch.add_column(sa.Column("scheduled_for", sa.DateTime))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime))
        batch.create_unique_constraint("uq_runs_trigger_key",
                                       ["pipeline", "trigger", "trigger_key"])
    op.create_table(
        "trigger_state",
        sa.Column("pipeline", sa.String(255), primary_key=True),
        sa.Column("trigger", sa.String(255), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("fired_until", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("trigger_state")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("uq_runs_trigger_key")
        batch.drop_column("heartbeat_at")
        batch.drop_column("scheduled_for")
        batch.drop_column("trigger_key")
        batch.drop_column("trigger")
