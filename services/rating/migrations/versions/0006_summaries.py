"""rating: the weekly and monthly summaries (issue 12 §3)

Revision ID: rating_0006
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "rating_0006"
down_revision = "rating_0005"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
