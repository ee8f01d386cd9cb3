"""people by (role, time zone): the scheduler's weekly jobs find each time zone's managers

The nudge, follow-up and digest jobs select managers by role and time zone across all workspaces. Without
this index each of them read every person and parsed their preferences (10k managers among 110k people:
about 60 ms a job, on every tick); with it they read the managers only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index("ix_people_role_timezone", ["role", "timezone"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_role_timezone")
