"""rating: the analysis inputs and the campaigns (issue 12 §5)

Revision ID: rating_0007
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "rating_0007"
down_revision = "rating_0006"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
