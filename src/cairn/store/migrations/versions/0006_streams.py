"""Managed streams: what the user wants (running or stopped) and what the process reports.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "streams",
        sa.Column("pipeline", sa.String(255), primary_key=True),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("pid", sa.Integer),
        sa.Column("host", sa.String(255)),
        sa.Column("started_at", sa.DateTime),
        sa.Column("heartbeat_at", sa.DateTime),
        sa.Column("restarts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_start_at", sa.DateTime),
        sa.Column("messages_in", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("messages_out", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("dead_letters", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("batches", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rate", sa.Float),
        sa.Column("lag", sa.BigInteger),
        sa.Column("latency_p50_ms", sa.Float),
        sa.Column("latency_p99_ms", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("streams")
