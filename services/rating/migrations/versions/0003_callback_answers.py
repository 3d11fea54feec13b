"""rating: the 回访's answers besides the level (是否联系, 是否解决)

Revision ID: rating_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0003"
down_revision = "rating_0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("contacted", sa.Boolean))
        batch.add_column(sa.Column("solved", sa.Boolean))


def downgrade():
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("solved")
        batch.drop_column("contacted")
