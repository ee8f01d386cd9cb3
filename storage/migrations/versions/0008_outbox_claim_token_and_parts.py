"""outbox: claim token (fencing) and per-part delivery progress

A drainer paused past its claim lease could resume and post a message another drainer had already
reconciled and sent, then mark it sent over the other's work: every change to a claimed row now requires
the token written when it was claimed (UPDATE ... WHERE id = ? AND claim_token = ?). A long Slack
message is several messages; `sent_parts` records each part Slack accepted, so a retry after a failure
or a crash between parts sends exactly the missing ones.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sent_parts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("sent_parts")
        batch_op.drop_column("claim_token")
