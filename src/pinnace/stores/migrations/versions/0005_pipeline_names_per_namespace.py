"""Pipeline names are unique per namespace, not across the server.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_index("ix_pipelines_name")
        # NULL namespaces (shared pipelines) do not collide in a unique index: the service
        # checks those names itself.
        batch.create_index("ix_pipelines_namespace_name", ["namespace", "name"], unique=True)
        batch.create_index("ix_pipelines_name", ["name"])


def downgrade() -> None:
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_index("ix_pipelines_name")
        batch.drop_index("ix_pipelines_namespace_name")
        batch.create_index("ix_pipelines_name", ["name"], unique=True)
