"""intake: a long-term matter's timetable, as the complainant sees it

Revision ID: intake_0005
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0005"
down_revision = "intake_0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("timetable", sa.Text))


def downgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("timetable")
