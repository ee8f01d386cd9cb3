"""Organizations own the data; Slack workspaces, Teams tenants and the terminal are ways into one

Each earlier workspace becomes an organization with the same id (the `workspaces` table is renamed, so
every row that referred to it by `workspace_id` now refers to its organization, without copying a table),
and a new `workspaces` table lists the ways in, one per earlier workspace, again with the same id (the
outbox's `workspace_id`, the way a message leaves, stays right). Admins can then link ways in to one
organization (`python -m bot org link`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PLATFORM = sa.Enum("local", "slack", "teams", name="platform", native_enum=False, length=20)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.rename_table("workspaces", "organizations")
    if postgres:
        # names PostgreSQL keeps per schema, needed again by the new `workspaces` table
        op.execute("ALTER TABLE organizations RENAME CONSTRAINT pk_workspaces TO pk_organizations")
        op.execute("ALTER SEQUENCE workspaces_id_seq RENAME TO organizations_id_seq")
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("platform", PLATFORM, nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_workspaces_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.execute(
        "INSERT INTO workspaces (id, organization_id, platform, external_id, enterprise_id, name, created_at) "
        "SELECT id, id, platform, external_id, enterprise_id, name, created_at FROM organizations"
    )
    if postgres:
        for table in ("workspaces", "organizations"):
            op.execute(
                f"SELECT setval('{table}_id_seq', COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_workspaces_platform_external_id", type_="unique")
        batch_op.drop_column("platform")
        batch_op.drop_column("external_id")
        batch_op.drop_column("enterprise_id")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_workspaces_platform_external_id"), ["platform", "external_id"]
        )
        batch_op.create_index(batch_op.f("ix_workspaces_organization_id"), ["organization_id"], unique=False)


def downgrade() -> None:
    """Back to one workspace per organization: possible while every organization has one way in."""
    bind = op.get_bind()
    shared = bind.execute(
        sa.text("SELECT organization_id FROM workspaces GROUP BY organization_id HAVING COUNT(*) > 1")
    ).first()
    if shared is not None:
        raise RuntimeError(
            f"organization {shared[0]} has several ways in; unlink them (python -m bot org) before downgrading"
        )
    postgres = bind.dialect.name == "postgresql"
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform", PLATFORM, nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("enterprise_id", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE organizations SET platform = (SELECT w.platform FROM workspaces w "
        "WHERE w.organization_id = organizations.id), external_id = (SELECT w.external_id FROM workspaces w "
        "WHERE w.organization_id = organizations.id), enterprise_id = (SELECT w.enterprise_id FROM "
        "workspaces w WHERE w.organization_id = organizations.id)"
    )
    op.drop_table("workspaces")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.alter_column("platform", existing_type=PLATFORM, nullable=False)
        batch_op.alter_column("external_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_workspaces_platform_external_id", ["platform", "external_id"])
    if postgres:
        op.execute("ALTER TABLE organizations RENAME CONSTRAINT pk_organizations TO pk_workspaces")
        op.execute("ALTER SEQUENCE organizations_id_seq RENAME TO workspaces_id_seq")
    op.rename_table("organizations", "workspaces")
