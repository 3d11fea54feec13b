"""intake: an index that answers the backlog gauge by itself (index-only scan)

Revision ID: intake_0006
"""
from alembic import op

revision = "intake_0006"
down_revision = "intake_0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_complaints_backlog", "complaints", ["status", "unit_id", "category"])


def downgrade():
    op.drop_index("ix_complaints_backlog", table_name="complaints")
