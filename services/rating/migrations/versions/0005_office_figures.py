"""rating: rating's projection of the case events, daily roll-ups, exclusions and snapshots (issue 12 §2)

Revision ID: rating_0005
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0005"
down_revision = "rating_0004"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_COUNTERS = ("received", "dispatched", "signed", "signed_on_time", "sign_seconds", "replied",
             "replied_on_time", "due", "reply_seconds", "closed", "rated", "contacted",
             "solved", "satisfied", "basically", "dissatisfied", "unrated", "redo",
             "supervised", "overdue")


def _when(name):
    return sa.Column(name, sa.DateTime(timezone=True))


def upgrade():
    op.create_table(
        "case_facts",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(32)),
        sa.Column("title", sa.Text),
        sa.Column("channel", sa.String(16)),
        sa.Column("category", sa.String(32)),
        sa.Column("grade", sa.String(16)),
        _when("received_at"),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("complainant_id", sa.String(64)),
        sa.Column("complainant_name", sa.String(128)),
        sa.Column("contact_phone_masked", sa.String(32)),
        sa.Column("location", sa.Text),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("unit_name", sa.String(128)),
        sa.Column("unit_kind", sa.String(16)),
        sa.Column("handler_id", sa.String(64)),
        sa.Column("handler_name", sa.String(128)),
        sa.Column("status", sa.String(16)),
        sa.Column("round", sa.Integer, nullable=False),
        _when("dispatched_at"),
        _when("sign_due_at"),
        _when("signed_at"),
        _when("reply_due_at"),
        _when("replied_at"),
        _when("closed_at"),
        sa.Column("closed_as", sa.String(16)),
        sa.Column("redo_count", sa.Integer, nullable=False),
        sa.Column("return_count", sa.Integer, nullable=False),
        sa.Column("supervised", sa.Boolean, nullable=False),
        sa.Column("leader_id", sa.String(64)),
        sa.Column("instructed", sa.Boolean, nullable=False),
        sa.Column("disputed", sa.Boolean, nullable=False),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("final_level", sa.String(16)),
        sa.Column("contacted", sa.Boolean),
        sa.Column("solved", sa.Boolean),
        _when("rated_at"),
        sa.Column("excluded", sa.Boolean, nullable=False),
        sa.Column("due_round", sa.Integer),
        _when("updated_at"),
    )
    op.create_index("ix_case_facts_category", "case_facts", ["category"])
    op.create_index("ix_case_facts_received_at", "case_facts", ["received_at"])
    op.create_index("ix_case_facts_unit_id", "case_facts", ["unit_id"])
    op.create_index("ix_case_facts_closed_at", "case_facts", ["closed_at"])

    op.create_table(
        "figure_rollups",
        sa.Column("basis", sa.String(16), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        *(sa.Column(name, _BIG if name.endswith("_seconds") else sa.Integer, nullable=False)
          for name in _COUNTERS),
    )
    op.create_index("ix_figure_rollups_day", "figure_rollups", ["day"])

    op.create_table(
        "figure_moves",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("counter", sa.String(24), nullable=False),
        sa.Column("delta", _BIG, nullable=False),
        sa.Column("assessed", sa.Boolean, nullable=False),
    )
    op.create_index("ix_figure_moves_complaint_id", "figure_moves", ["complaint_id"])

    op.create_table(
        "exclusions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_by_name", sa.String(128)),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_by_name", sa.String(128)),
        _when("decided_at"),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_exclusions_complaint_id", "exclusions", ["complaint_id"])
    op.create_index("ix_exclusions_unit_id", "exclusions", ["unit_id"])

    op.create_table(
        "assessment_snapshots",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("basis", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("published_by_name", sa.String(128)),
        sa.Column("reason", sa.Text),
        sa.Column("figures", sa.JSON, nullable=False),
    )


def downgrade():
    op.drop_table("assessment_snapshots")
    op.drop_index("ix_exclusions_unit_id", "exclusions")
    op.drop_index("ix_exclusions_complaint_id", "exclusions")
    op.drop_table("exclusions")
    op.drop_index("ix_figure_moves_complaint_id", "figure_moves")
    op.drop_table("figure_moves")
    op.drop_index("ix_figure_rollups_day", "figure_rollups")
    op.drop_table("figure_rollups")
    for name in ("closed_at", "unit_id", "received_at", "category"):
        op.drop_index(f"ix_case_facts_{name}", "case_facts")
    op.drop_table("case_facts")
