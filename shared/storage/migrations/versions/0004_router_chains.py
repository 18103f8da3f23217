"""router: escalation timers, case actions, silences, the outbox; more about each case

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00

Escalation chains survive restarts as timer rows; actions waiting for approval wait in the
database; events are published from an outbox written in the same transaction as the state
change that caused them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _case_columns() -> list[sa.Column[object]]:
    """Fresh objects on each call: a Column belongs to one table once added."""
    return [
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("opener", sa.JSON(), nullable=True),
        sa.Column("comment_url", sa.Text(), nullable=True),
        sa.Column("identity", sa.JSON(), nullable=True),
        sa.Column("muted_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=True),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for column in _case_columns():
        # ADD COLUMN of a nullable column: no table rebuild, on SQLite either.
        op.add_column("cases", column)
    op.create_table(
        "case_timers",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("reminded", sa.Integer(), nullable=False),
        sa.Column("page", sa.JSON(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_timers_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_timers")),
    )
    op.create_index(op.f("ix_case_timers_case_id"), "case_timers", ["case_id"], unique=False)
    op.create_index(op.f("ix_case_timers_due_at"), "case_timers", ["due_at"], unique=False)
    op.create_table(
        "case_actions",
        sa.Column("action_id", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_actions_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_case_actions")),
    )
    op.create_index(op.f("ix_case_actions_case_id"), "case_actions", ["case_id"], unique=False)
    op.create_table(
        "silences",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(op.f("ix_silences_ends_at"), "silences", ["ends_at"], unique=False)
    op.create_table(
        "router_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_router_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_router_outbox_event_id")),
    )
    op.create_index(
        "ix_router_outbox_pending",
        "router_outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_router_outbox_pending", table_name="router_outbox")
    op.drop_table("router_outbox")
    op.drop_index(op.f("ix_silences_ends_at"), table_name="silences")
    op.drop_table("silences")
    op.drop_index(op.f("ix_case_actions_case_id"), table_name="case_actions")
    op.drop_table("case_actions")
    op.drop_index(op.f("ix_case_timers_due_at"), table_name="case_timers")
    op.drop_index(op.f("ix_case_timers_case_id"), table_name="case_timers")
    op.drop_table("case_timers")
    with op.batch_alter_table("cases") as batch:
        for column in reversed(_case_columns()):
            batch.drop_column(column.name)
