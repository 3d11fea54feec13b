"""routing: assignments, outbox and inbox

Revision ID: routing_0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "routing_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "assignments",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("handler_id", sa.String(64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
    )
    op.create_index("ix_assignments_unit_id", "assignments", ["unit_id"])
    op.create_index("ix_assignments_handler_id", "assignments", ["handler_id"])
    create_messaging_tables(op)


def downgrade():
    drop_messaging_tables(op)
    op.drop_table("assignments")
