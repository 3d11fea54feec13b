"""rating: ratings, outbox and inbox

Revision ID: rating_0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "rating_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ratings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("rated_by", sa.String(64), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ratings_complaint_id", "ratings", ["complaint_id"])
    create_messaging_tables(op)


def downgrade():
    drop_messaging_tables(op)
    op.drop_table("ratings")
