"""rating: the analysis inputs and the campaigns (issue 12 §5)

Revision ID: rating_0007
"""
import sqlalchemy as sa
from alembic import op

revision = "rating_0007"
down_revision = "rating_0006"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "analysis_cases",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("location", sa.Text()),
        sa.Column("place_key", sa.String(300)),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("unit_name", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("closed_at", UTC),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("cluster_id", sa.String(36)),
        sa.Column("repeat_of", sa.String(36)),
        sa.Column("repeat_times", sa.Integer(), nullable=False),
        sa.Column("rated_level", sa.String(16)),
        sa.Column("contacted", sa.Boolean()),
        sa.Column("solved", sa.Boolean()),
        sa.Column("rated_at", UTC),
        sa.Column("unrated", sa.Boolean(), nullable=False),
    )
    for column in ("received_at", "month", "place_key", "unit_id", "cluster_id"):
        op.create_index(f"ix_analysis_cases_{column}", "analysis_cases", [column])

    op.create_table(
        "analysis_words",
        sa.Column("word", sa.String(64), primary_key=True),
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("received_at", UTC, nullable=False),
    )
    op.create_index("ix_analysis_words_complaint_id", "analysis_words", ["complaint_id"])
    op.create_index("ix_analysis_words_word_received", "analysis_words",
                    ["word", "received_at"])

    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("lead_unit_id", sa.String(64), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("conclusion", sa.Text()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_by_name", sa.String(64)),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("closed_at", UTC),
    )
    op.create_index("ix_campaigns_lead_unit_id", "campaigns", ["lead_unit_id"])

    op.create_table(
        "campaign_cases",
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"),
                  primary_key=True),
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("attached", sa.Boolean(), nullable=False),
        sa.Column("attached_by", sa.String(64), nullable=False),
        sa.Column("attached_at", UTC, nullable=False),
        sa.Column("detached_by", sa.String(64)),
        sa.Column("detached_at", UTC),
    )
    op.create_index("ix_campaign_cases_complaint_id", "campaign_cases", ["complaint_id"])

    op.create_table(
        "campaign_milestones",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("due_date", sa.Date()),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_by_name", sa.String(64)),
        sa.Column("recorded_at", UTC, nullable=False),
    )
    op.create_index("ix_campaign_milestones_campaign_id", "campaign_milestones",
                    ["campaign_id"])


def downgrade():
    op.drop_table("campaign_milestones")
    op.drop_table("campaign_cases")
    op.drop_table("campaigns")
    op.drop_table("analysis_words")
    op.drop_table("analysis_cases")
