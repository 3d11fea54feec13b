"""notify: the summaries posted to the work group (one per summary, with its charts)

Revision ID: notify_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "notify_0004"
down_revision = "notify_0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "workgroup_posts",
        sa.Column("summary_id", sa.String(36), primary_key=True),
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("charts", sa.JSON, nullable=False),
    )


def downgrade():
    op.drop_table("workgroup_posts")
