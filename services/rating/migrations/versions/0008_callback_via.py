"""rating: how a 回访 was made (the complainant rated, or the office called them) and who called

Revision ID: rating_0008
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0008"
down_revision = "rating_0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("via", sa.String(16), nullable=False,
                                   server_default="complainant"))
        batch.add_column(sa.Column("called_by", sa.String(64)))
        batch.add_column(sa.Column("called_at", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("called_at")
        batch.drop_column("called_by")
        batch.drop_column("via")
