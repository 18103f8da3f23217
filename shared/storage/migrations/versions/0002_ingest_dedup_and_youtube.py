"""ingest de-duplication, YouTube cursors, 64-bit revisions, lifecycle kinds in unique keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:00:00

Revisions become 64-bit because platforms without revision numbers use the edit time in
milliseconds. A delete or hide of a comment may carry the revision of its creation, so the
kind joins the unique keys of comments and classifications.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.alter_column("revision", type_=sa.BigInteger(), existing_nullable=False)
        batch.drop_constraint("uq_comments_platform_comment_id_revision", type_="unique")
        batch.create_unique_constraint(
            "uq_comments_platform_comment_id_revision_kind",
            ["platform", "comment_id", "revision", "kind"],
        )
    with op.batch_alter_table("classifications") as batch:
        batch.alter_column("revision", type_=sa.BigInteger(), existing_nullable=False)
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="created")
        )
        batch.drop_constraint(
            "uq_classifications_platform_comment_id_revision_model_version", type_="unique"
        )
        batch.create_unique_constraint(
            "uq_classifications_version",
            ["platform", "comment_id", "revision", "kind", "model_version"],
        )
    with op.batch_alter_table("case_comments") as batch:
        batch.alter_column("revision", type_=sa.BigInteger(), existing_nullable=False)
    op.create_table(
        "ingest_seen",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ingest_seen")),
    )
    op.create_index(op.f("ix_ingest_seen_seen_at"), "ingest_seen", ["seen_at"], unique=False)
    op.create_table(
        "youtube_cursors",
        sa.Column("video_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=128), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("tracked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("video_id", name=op.f("pk_youtube_cursors")),
    )
    op.create_index(
        op.f("ix_youtube_cursors_next_poll_at"), "youtube_cursors", ["next_poll_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_youtube_cursors_next_poll_at"), table_name="youtube_cursors")
    op.drop_table("youtube_cursors")
    op.drop_index(op.f("ix_ingest_seen_seen_at"), table_name="ingest_seen")
    op.drop_table("ingest_seen")
    with op.batch_alter_table("case_comments") as batch:
        batch.alter_column("revision", type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("classifications") as batch:
        batch.drop_constraint(
            "uq_classifications_version", type_="unique"
        )
        batch.create_unique_constraint(
            "uq_classifications_platform_comment_id_revision_model_version",
            ["platform", "comment_id", "revision", "model_version"],
        )
        batch.drop_column("kind")
        batch.alter_column("revision", type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("comments") as batch:
        batch.drop_constraint("uq_comments_platform_comment_id_revision_kind", type_="unique")
        batch.create_unique_constraint(
            "uq_comments_platform_comment_id_revision", ["platform", "comment_id", "revision"]
        )
        batch.alter_column("revision", type_=sa.Integer(), existing_nullable=False)
