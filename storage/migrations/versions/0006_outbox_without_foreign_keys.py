"""outbox without foreign keys: it is a queue that refers to people and workspaces by id

Checking a foreign key takes a FOR KEY SHARE lock on the referenced row for every inserted row; on
PostgreSQL the two checks were over half the cost of queueing a day's 100k knowledge checks. The drainer
marks a message whose person no longer exists as dead instead.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_person_id_people", type_="foreignkey")
        batch_op.drop_constraint("fk_outbox_workspace_id_workspaces", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_outbox_workspace_id_workspaces", "workspaces", ["workspace_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            "fk_outbox_person_id_people", "people", ["person_id"], ["id"], ondelete="CASCADE"
        )
