"""sla: deadlines, outbox and inbox

Revision ID: sla_0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "sla_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "deadlines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("complaint_id", "kind", name="uq_deadlines_complaint_kind"),
    )
    op.create_index("ix_deadlines_pending_due", "deadlines", ["due_at"],
                    postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))
    create_messaging_tables(op)


def downgrade():
    drop_messaging_tables(op)
    op.drop_table("deadlines")
