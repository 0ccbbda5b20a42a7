"""What each trigger's state was kept for: a digest of the trigger's definition, so that an
edited trigger restarts its schedule from the edit instead of catching up the new times.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_state") as batch:
        batch.add_column(sa.Column("definition", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("trigger_state") as batch:
        batch.drop_column("definition")
