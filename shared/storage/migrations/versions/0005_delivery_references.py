"""notifier: what a channel called the message it posted

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 19:00:00

A Slack message's channel and ``ts``, a Teams activity, a PagerDuty dedup key: whatever a
channel answers when a page is posted, kept so that the page can be updated (acknowledged,
resolved) in place instead of being followed by a new message.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column: no table rebuild, on SQLite either.
    op.add_column("deliveries", sa.Column("reference", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("reference")
