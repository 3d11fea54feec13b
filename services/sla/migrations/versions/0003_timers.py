"""sla: timers (warning, urging, overdue, escalation), extensions, the target's state

Revision ID: sla_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "sla_0003"
down_revision = "sla_0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False,
                                   server_default="normal"))
        batch.add_column(sa.Column("number", sa.String(32)))
        batch.add_column(sa.Column("category", sa.String(32)))
        batch.add_column(sa.Column("recipients", sa.Text))
        batch.add_column(sa.Column("met_at", sa.DateTime(timezone=True)))
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("deadline_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("deadlines.id"), nullable=False),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_timers_deadline_id", "timers", ["deadline_id"])
    op.create_index("ix_timers_pending_due", "timers", ["due_at"],
                    postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))
    op.create_table(
        "extensions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("deadline_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("deadlines.id"), nullable=False),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("old_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_extensions_deadline_id", "extensions", ["deadline_id"])
    op.create_index("ix_extensions_complaint_id", "extensions", ["complaint_id"])


def downgrade():
    op.drop_table("extensions")
    op.drop_table("timers")
    with op.batch_alter_table("deadlines") as batch:
        for name in ("met_at", "recipients", "category", "number", "state"):
            batch.drop_column(name)
