"""rating: the case ledger's texts in case_facts (content, reply, the rating's comment; phones
masked), for the xlsx 案件台账

Revision ID: rating_0011

Cases the figures saw before this migration keep these empty.
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0011"
down_revision = "rating_0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("case_facts") as batch:
        batch.add_column(sa.Column("content", sa.Text()))
        batch.add_column(sa.Column("reply", sa.Text()))
        batch.add_column(sa.Column("comment", sa.Text()))


def downgrade():
    with op.batch_alter_table("case_facts") as batch:
        batch.drop_column("comment")
        batch.drop_column("reply")
        batch.drop_column("content")
