"""router: open cases by author, for inhibition

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 22:10:00

The router reads, for each batch, the open cases that could inhibit its comments: those of
the same author (the most selective field an inhibit rule compares, and the one the shipped
policy's rule uses). An index on the author in ``identity`` keeps that read to the cases
that share an author with the batch, however many cases there are. It is not partial (open
cases only) on purpose: PostgreSQL gathers statistics on an index expression only for a
non-partial index, and without them the planner scans the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_author", "cases", [sa.text("(identity ->> 'author_id')")])


def downgrade() -> None:
    op.drop_index("ix_cases_author", table_name="cases")
