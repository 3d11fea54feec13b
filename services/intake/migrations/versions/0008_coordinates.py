"""intake: an Open311 request's lat/long, kept as the app gave them (not folded into location)

Revision ID: intake_0008
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0008"
down_revision = "intake_0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("lat", sa.Float()))
        batch.add_column(sa.Column("long", sa.Float()))


def downgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("long")
        batch.drop_column("lat")
