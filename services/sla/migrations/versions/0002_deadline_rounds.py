"""sla: one resolution deadline per round (redo and supervision set their own)

Revision ID: sla_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "sla_0002"
down_revision = "sla_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("round", sa.Integer, nullable=False, server_default="0"))
        batch.drop_constraint("uq_deadlines_complaint_kind", type_="unique")
        batch.create_unique_constraint("uq_deadlines_complaint_kind",
                                       ["complaint_id", "kind", "round"])


def downgrade():
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_constraint("uq_deadlines_complaint_kind", type_="unique")
        batch.create_unique_constraint("uq_deadlines_complaint_kind", ["complaint_id", "kind"])
        batch.drop_column("round")
