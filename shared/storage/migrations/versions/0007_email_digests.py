"""notifier: e-mail pages held for a receiver's digest

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 21:00:00

Once a receiver has had ``VIGIE_EMAIL_DIGEST_THRESHOLD`` e-mail pages within
``VIGIE_EMAIL_DIGEST_WINDOW_S``, its further non-critical pages are held here, with the
action and the end of their window, until one digest lists them. Pages sent at once are
recorded too: they are what the threshold counts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_digests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("action_id", sa.String(length=512), nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("window_start", _AT, nullable=True),
        sa.Column("due_at", _AT, nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("source_partition", sa.Integer(), nullable=True),
        sa.Column("source_offset", sa.BigInteger(), nullable=True),
        sa.Column("claimed_until", _AT, nullable=True),
        sa.Column("sent_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_digests")),
        sa.UniqueConstraint("action_id", name=op.f("uq_email_digests_action_id")),
    )
    op.create_index(
        "ix_email_digests_receiver_created_at",
        "email_digests",
        ["receiver", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_email_digests_pending",
        "email_digests",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("held AND sent_at IS NULL"),
        sqlite_where=sa.text("held AND sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_email_digests_pending", table_name="email_digests")
    op.drop_index("ix_email_digests_receiver_created_at", table_name="email_digests")
    op.drop_table("email_digests")
