"""rating: indexes on case_facts.status and rated_at (the summaries' open cases and a week's
ratings, read from a million cases)

Revision ID: rating_0009
"""
from alembic import op

revision = "rating_0009"
down_revision = "rating_0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_case_facts_status", "case_facts", ["status"])
    op.create_index("ix_case_facts_rated_at", "case_facts", ["rated_at"])


def downgrade():
    op.drop_index("ix_case_facts_rated_at", "case_facts")
    op.drop_index("ix_case_facts_status", "case_facts")
