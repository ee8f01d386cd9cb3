"""Review logs indexed by organization, newest first: a new rep's pace of new questions starts from the
organization's latest answers (handlers.quizzes.queue), read at every choice of a question

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:05:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_review_logs_organization_id", "review_logs", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_review_logs_organization_id", table_name="review_logs")
