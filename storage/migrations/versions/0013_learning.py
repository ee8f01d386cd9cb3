"""Honest answer log: when a knowledge check was delivered, and whether the rep asked for it (then the
time to answer is a response time; a pushed question's is not), and FSRS's recall estimate at each answer

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-03 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("predicted_recall", sa.Float(), nullable=True))
    with op.batch_alter_table("review_cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_on_request", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_cards", schema=None) as batch_op:
        batch_op.drop_column("pending_on_request")
    with op.batch_alter_table("review_logs", schema=None) as batch_op:
        batch_op.drop_column("predicted_recall")
        batch_op.drop_column("delivered_at")
