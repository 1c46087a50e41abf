"""Runs remember the schedule slot they were started for, unique per recurring run.

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
        batch.add_column(sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(
            "ix_runs_recurring_run_id_scheduled_at",
            ["recurring_run_id", "scheduled_at"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_recurring_run_id_scheduled_at")
        batch.drop_column("scheduled_at")
