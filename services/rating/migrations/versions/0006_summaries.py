"""rating: the weekly and monthly summaries (issue 12 §3)

Revision ID: rating_0006
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0006"
down_revision = "rating_0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "summaries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("generated_by", sa.String(64), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.UniqueConstraint("kind", "period", name="uq_summaries_period"),
    )
    op.create_index("ix_summaries_ends_at", "summaries", ["ends_at"])
    op.create_table(
        "summary_charts",
        sa.Column("summary_id", sa.String(36),
                  sa.ForeignKey("summaries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
    )


def downgrade():
    op.drop_table("summary_charts")
    op.drop_index("ix_summaries_ends_at", table_name="summaries")
    op.drop_table("summaries")
