"""notify: where each channel delivers (openid, phone), and the complainant's phone

Revision ID: notify_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "notify_0003"
down_revision = "notify_0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("address", sa.String(128)))
    with op.batch_alter_table("case_contacts") as batch:
        batch.add_column(sa.Column("phone", sa.String(32)))
    op.create_index("ix_case_contacts_complainant_id", "case_contacts", ["complainant_id"])


def downgrade():
    op.drop_index("ix_case_contacts_complainant_id", table_name="case_contacts")
    with op.batch_alter_table("case_contacts") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("address")
