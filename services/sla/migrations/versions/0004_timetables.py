"""sla: timetables of long-term matters (milestones and their staged-feedback dates)

Revision ID: sla_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "sla_0004"
down_revision = "sla_0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("title", sa.String(200)))
        batch.add_column(sa.Column("milestone_id", sa.String(36), nullable=False,
                                   server_default=""))
        batch.drop_constraint("uq_deadlines_complaint_kind", type_="unique")
        batch.create_unique_constraint("uq_deadlines_complaint_kind",
                                       ["complaint_id", "kind", "round", "milestone_id"])
    op.create_index("ix_deadlines_milestone_id", "deadlines", ["milestone_id"])


def downgrade():
    op.drop_index("ix_deadlines_milestone_id", table_name="deadlines")
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_constraint("uq_deadlines_complaint_kind", type_="unique")
        batch.create_unique_constraint("uq_deadlines_complaint_kind",
                                       ["complaint_id", "kind", "round"])
        batch.drop_column("milestone_id")
        batch.drop_column("title")
