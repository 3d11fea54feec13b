"""intake: the pledge (R3) on every case, hotline calls, unclassified voicemail cases

Revision ID: intake_0007
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0007"
down_revision = "intake_0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("pledge", sa.Text()))
        batch.add_column(sa.Column("call_id", sa.String(64)))
        batch.alter_column("category", existing_type=sa.String(32), nullable=True)
    op.create_index("ix_complaints_call_id", "complaints", ["call_id"])
    op.create_table(
        "hotline_calls",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16)),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("complaint_id", sa.String(36)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("hotline_calls")
    op.drop_index("ix_complaints_call_id", table_name="complaints")
    with op.batch_alter_table("complaints") as batch:
        batch.alter_column("category", existing_type=sa.String(32), nullable=False)
        batch.drop_column("call_id")
        batch.drop_column("pledge")
