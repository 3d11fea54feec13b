"""notify: notifications, outbox and inbox

Revision ID: notify_0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "notify_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("recipient_role", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("recipient_name", sa.String(100)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("event_id", "recipient_role", "recipient_id",
                            name="uq_notifications_cause"),
    )
    op.create_index("ix_notifications_complaint_id", "notifications", ["complaint_id"])
    op.create_index("ix_notifications_pending", "notifications", ["created_at"],
                    postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))
    create_messaging_tables(op)


def downgrade():
    drop_messaging_tables(op)
    op.drop_table("notifications")
