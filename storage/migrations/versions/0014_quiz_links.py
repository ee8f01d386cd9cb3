"""Quiz questions tied to a playbook section: the section's reference, the fingerprint of its text the
question was reviewed against and the one last seen, a review flag for enablement; review cards record
when they were reset because that section changed

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quiz_questions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("section_ref", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("section_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("section_seen", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("review_flagged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.String(length=300), nullable=True))
    with op.batch_alter_table("review_cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relearn_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_cards", schema=None) as batch_op:
        batch_op.drop_column("relearn_since")
    with op.batch_alter_table("quiz_questions", schema=None) as batch_op:
        batch_op.drop_column("review_reason")
        batch_op.drop_column("review_flagged_at")
        batch_op.drop_column("section_seen")
        batch_op.drop_column("section_fingerprint")
        batch_op.drop_column("section_ref")
