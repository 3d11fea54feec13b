"""intake: indexes for the head's live view (issue 13): a unit's cases received since a
moment, and the cases closed since a moment (timeline lines by kind and time)

Revision ID: intake_0009
"""
from alembic import op

revision = "intake_0009"
down_revision = "intake_0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_complaints_unit_received", "complaints", ["unit_id", "received_at"])
    op.create_index("ix_timeline_kind_at", "timeline", ["kind", "at"])


def downgrade():
    op.drop_index("ix_timeline_kind_at", table_name="timeline")
    op.drop_index("ix_complaints_unit_received", table_name="complaints")
