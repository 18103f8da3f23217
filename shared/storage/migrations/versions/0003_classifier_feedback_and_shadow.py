"""classifier shadow verdicts and moderator feedback

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 16:30:00

Shadow verdicts are a second backend's opinion stored next to the published one; moderator
feedback is the labels a moderator says are right, kept as a labelled example.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classifier_shadow_verdicts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("comment_id", sa.String(length=512), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("unsure", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("primary_model_version", sa.String(length=64), nullable=False),
        sa.Column("primary_labels", sa.JSON(), nullable=False),
        sa.Column("agrees", sa.Boolean(), nullable=False),
        sa.Column("classified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_shadow_verdicts")),
        sa.UniqueConstraint(
            "platform",
            "comment_id",
            "revision",
            "kind",
            "model_version",
            name="uq_classifier_shadow_verdicts_version",
        ),
    )
    op.create_index(
        op.f("ix_classifier_shadow_verdicts_classified_at"),
        "classifier_shadow_verdicts",
        ["classified_at"],
        unique=False,
    )
    op.create_table(
        "classifier_feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("comment_id", sa.String(length=512), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("moderator", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("model_labels", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_feedback")),
    )
    op.create_index(
        op.f("ix_classifier_feedback_corrected_at"),
        "classifier_feedback",
        ["corrected_at"],
        unique=False,
    )
    op.create_index(
        "ix_classifier_feedback_comment",
        "classifier_feedback",
        ["platform", "comment_id", "revision"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_classifier_feedback_comment", table_name="classifier_feedback")
    op.drop_index(op.f("ix_classifier_feedback_corrected_at"), table_name="classifier_feedback")
    op.drop_table("classifier_feedback")
    op.drop_index(
        op.f("ix_classifier_shadow_verdicts_classified_at"),
        table_name="classifier_shadow_verdicts",
    )
    op.drop_table("classifier_shadow_verdicts")
