"""Runs and block runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(255), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("duration_s", sa.Float),
        sa.Column("execution_date", sa.DateTime, nullable=False),
        sa.Column("variables", sa.Text, nullable=False),
        sa.Column("blocks", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("host", sa.String(255)),
        sa.Column("resumes", sa.Integer, nullable=False),
    )
    op.create_table(
        "block_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("block", sa.String(255), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("duration_s", sa.Float),
        sa.Column("rows_out", sa.Integer),
        sa.Column("output_bytes", sa.Integer),
        sa.Column("peak_memory_bytes", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("outputs", sa.Text),
    )
    op.create_index("ix_block_runs_run", "block_runs", ["run_id"])
    op.create_index("ix_block_runs_latest", "block_runs", ["pipeline", "block", "status"])


def downgrade() -> None:
    op.drop_table("block_runs")
    op.drop_table("runs")
