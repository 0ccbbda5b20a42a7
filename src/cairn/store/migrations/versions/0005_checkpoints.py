"""Checkpoints of incremental blocks, every value kept as a version.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("block", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("run_id", sa.String(64)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("pipeline", "block", "name", "version",
                            name="uq_checkpoints_version"),
    )


def downgrade() -> None:
    op.drop_table("checkpoints")
