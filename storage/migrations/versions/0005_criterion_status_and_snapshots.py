"""criterion status (the current state of each exit criterion per deal and stage, filled from the events)
and summary snapshots (organization-wide summaries of large workspaces, computed ahead)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "criterion_status",
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("criterion_id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("playbook_id", sa.String(length=64), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_criterion_status_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_criterion_status_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deal_id", "stage_id", "criterion_id", name=op.f("pk_criterion_status")),
    )
    op.create_index(
        "ix_criterion_status_workspace_stage",
        "criterion_status",
        ["workspace_id", "playbook_id", "stage_id"],
        unique=False,
    )
    op.create_table(
        "summary_snapshots",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_summary_snapshots_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "kind", name=op.f("pk_summary_snapshots")),
    )
    # Existing confirmations: the latest event per deal, stage and criterion is its current state.
    op.execute(
        "INSERT INTO criterion_status (deal_id, stage_id, criterion_id, workspace_id, playbook_id, "
        "confirmed, event_id, changed_at) "
        "SELECT deal_id, stage_id, criterion_id, workspace_id, playbook_id, confirmed, id, created_at "
        "FROM (SELECT e.*, row_number() OVER (PARTITION BY deal_id, stage_id, criterion_id "
        "ORDER BY created_at DESC, id DESC) AS position FROM criterion_events AS e) AS ranked "
        "WHERE position = 1"
    )


def downgrade() -> None:
    op.drop_table("summary_snapshots")
    op.drop_index("ix_criterion_status_workspace_stage", table_name="criterion_status")
    op.drop_table("criterion_status")
