"""intake: complaints, timeline, daily counters, outbox and inbox

Revision ID: intake_0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200)),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("location", sa.String(200)),
        sa.Column("contact_phone", sa.String(32)),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("complainant_id", sa.String(64), nullable=False),
        sa.Column("complainant_name", sa.String(100)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grade", sa.String(16)),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("unit_name", sa.String(100)),
        sa.Column("handler_id", sa.String(64)),
        sa.Column("handler_name", sa.String(100)),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_complaints_status", "complaints", ["status"])
    op.create_index("ix_complaints_category", "complaints", ["category"])
    op.create_index("ix_complaints_complainant_id", "complaints", ["complainant_id"])
    op.create_index("ix_complaints_unit_id", "complaints", ["unit_id"])
    op.create_table(
        "timeline",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100)),
        sa.Column("event_id", sa.String(36)),
    )
    op.create_index("ix_timeline_complaint_id", "timeline", ["complaint_id"])
    op.create_table(
        "daily_counters",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    create_messaging_tables(op)


def downgrade():
    drop_messaging_tables(op)
    op.drop_table("daily_counters")
    op.drop_table("timeline")
    op.drop_table("complaints")
