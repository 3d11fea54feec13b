"""notify: who filed each case and on which channel

Revision ID: notify_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "notify_0002"
down_revision = "notify_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_contacts",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("complainant_id", sa.String(64), nullable=False),
        sa.Column("complainant_name", sa.String(100)),
        sa.Column("channel", sa.String(16), nullable=False),
    )


def downgrade():
    op.drop_table("case_contacts")
