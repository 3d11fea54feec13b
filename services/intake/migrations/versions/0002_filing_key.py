"""intake: idempotent filing (complainant_id, filing_key) unique

Revision ID: intake_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0002"
down_revision = "intake_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("filing_key", sa.String(100)))
    # Cases filed before keys existed each get a key of their own.
    op.execute("UPDATE complaints SET filing_key = 'legacy-' || id WHERE filing_key IS NULL")
    with op.batch_alter_table("complaints") as batch:
        batch.alter_column("filing_key", existing_type=sa.String(100), nullable=False)
        batch.create_unique_constraint("uq_complaints_filing_key",
                                       ["complainant_id", "filing_key"])


def downgrade():
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint("uq_complaints_filing_key", type_="unique")
        batch.drop_column("filing_key")
