"""intake: urgency, and the SLA's view of the case (state, response target)

Revision ID: intake_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0004"
down_revision = "intake_0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("urgent", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("sla_state", sa.String(16), nullable=False,
                                   server_default="normal"))
        batch.add_column(sa.Column("response_due_at", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("complaints") as batch:
        for name in ("response_due_at", "sla_state", "urgent"):
            batch.drop_column(name)
