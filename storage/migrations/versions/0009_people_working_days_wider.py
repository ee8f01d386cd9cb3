"""people.working_days holds any week: a 6- or 7-day week did not fit in 20 characters

"mon,tue,wed,thu,fri,sat,sun" is 27 characters; PostgreSQL refused it ("value too long"). Widened to 40.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column(
            "working_days",
            existing_type=sa.String(length=20),
            type_=sa.String(length=40),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column(
            "working_days",
            existing_type=sa.String(length=40),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
