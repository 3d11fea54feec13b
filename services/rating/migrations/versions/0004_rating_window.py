"""rating: the end of each rating window (an unrated reply closes as 未评价)

Revision ID: rating_0004

Slots opened before this migration get no end: they stay open as before.
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0004"
down_revision = "rating_0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rating_slots") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_rating_slots_expires_at", ["expires_at"])


def downgrade():
    with op.batch_alter_table("rating_slots") as batch:
        batch.drop_index("ix_rating_slots_expires_at")
        batch.drop_column("expires_at")
