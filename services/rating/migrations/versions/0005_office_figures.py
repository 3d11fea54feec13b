"""rating: rating's projection of the case events, daily roll-ups, exclusions and snapshots (issue 12 §2)

Revision ID: rating_0005
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "rating_0005"
down_revision = "rating_0004"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
