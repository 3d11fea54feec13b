"""rating: rating slots and the decision taken on each rating

Revision ID: rating_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0002"
down_revision = "rating_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("decision", sa.String(16)))
    op.create_table(
        "rating_slots",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("complainant_id", sa.String(64), primary_key=True),
        sa.Column("round", sa.Integer, primary_key=True),
        sa.Column("primary", sa.Boolean, nullable=False),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("rating_slots")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("decision")
