"""Tables of the analysis inputs and the campaigns (issue 12 §5). Registered on rating's one metadata
(services/rating/models.py imports this module).

analysis_cases is analysis's own projection of the bus (its consumers in
services/rating/analysis_entrypoints.py), kept apart from figures' case_facts so that neither
waits on the other's schema. What costs time is done once, when a case arrives: its text is cut
into words (`words`, space-joined), its words are posted to analysis_words so that similar
recent cases are found by an index rather than by comparing every pair, and the case joins the
共性问题 cluster of the cases it is alike to (`cluster_id`) and is flagged when it repeats a
closed case at the same place (`repeat_of`).
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.common.types import UtcDateTime
from services.rating.models import Base


class AnalysisCase(Base):
    __tablename__ = "analysis_cases"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(16))
    category: Mapped[str] = mapped_column(sa.String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    month: Mapped[str] = mapped_column(sa.String(7), index=True)   # YYYY-MM, Asia/Shanghai
    location: Mapped[str | None] = mapped_column(sa.Text)
    # Where and what it is about (analysis.place_key as text): the location and category, or
    # (no location) the unit and category once assigned.
    place_key: Mapped[str | None] = mapped_column(sa.String(300), index=True)
    unit_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    unit_name: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16))
    # False once screened out or merged: then it is left out of every analysis.
    counted: Mapped[bool] = mapped_column(sa.Boolean)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    words: Mapped[str] = mapped_column(sa.Text)                   # topic words, space-joined
    cluster_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    repeat_of: Mapped[str | None] = mapped_column(sa.String(36))  # the closed case it repeats
    repeat_times: Mapped[int] = mapped_column(sa.Integer, default=0)
    # The final 回访 (the rating that closed the case): 三率 inside a campaign.
    rated_level: Mapped[str | None] = mapped_column(sa.String(16))
    contacted: Mapped[bool | None] = mapped_column(sa.Boolean)
    solved: Mapped[bool | None] = mapped_column(sa.Boolean)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unrated: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # closed as 未评价


class AnalysisWord(Base):
    """Postings: which recent cases use a word, so a new case finds its look-alikes."""
    __tablename__ = "analysis_words"
    __table_args__ = (sa.Index("ix_analysis_words_word_received", "word", "received_at"),)

    word: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


# Hot topics' roll-ups (docs/ANALYSIS.md): what each counted case adds to TF-IDF, per local
# (Asia/Shanghai) day of receipt, so that a period's hot topics are a GROUP BY of a few
# thousand rows rather than a count over every stored word. Written by the consumers as a case
# arrives, moves to another unit or leaves the analysis (screened out, merged).
TOPIC_DOCUMENTS = ""     # the word of the row that counts the documents themselves
NO_UNIT = ""             # unit_id of a case not yet assigned


class AnalysisTopicDay(Base):
    """Per day and word: the counted cases containing the word (`documents`) and the sum of
    its tf in them; word "" counts every counted case of the day (with words or not)."""
    __tablename__ = "analysis_topic_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    word: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    documents: Mapped[int] = mapped_column(sa.Integer)
    tf: Mapped[float] = mapped_column(sa.Double)


class AnalysisTopicCell(Base):
    """The same per day × category × unit: hot topics of one category or unit, and the
    chosen words' cases by category and by unit."""
    __tablename__ = "analysis_topic_cells"
    __table_args__ = (sa.Index("ix_analysis_topic_cells_word_day", "word", "day"),
                      sa.Index("ix_analysis_topic_cells_unit_day", "unit_id", "day"))

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    word: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    documents: Mapped[int] = mapped_column(sa.Integer)
    tf: Mapped[float] = mapped_column(sa.Double)


class Campaign(Base):
    """专项治理: a campaign the office runs against one problem."""
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # {"categories": [...], "keywords": [...], "units": [...], "from": "YYYY-MM-DD" | None,
    #  "to": ...}
    scope: Mapped[dict] = mapped_column(sa.JSON)
    lead_unit_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_date: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(8))              # open | closed
    conclusion: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_by_name: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_by: Mapped[str | None] = mapped_column(sa.String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CampaignCase(Base):
    """A case the office attached to a campaign (kept when detached, for the record)."""
    __tablename__ = "campaign_cases"

    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, index=True)
    attached: Mapped[bool] = mapped_column(sa.Boolean)
    attached_by: Mapped[str] = mapped_column(sa.String(64))
    attached_at: Mapped[datetime] = mapped_column(UtcDateTime())
    detached_by: Mapped[str | None] = mapped_column(sa.String(64))
    detached_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CampaignMilestone(Base):
    __tablename__ = "campaign_milestones"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.Text)
    due_date: Mapped[date | None] = mapped_column(sa.Date)
    done: Mapped[bool] = mapped_column(sa.Boolean)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    recorded_by_name: Mapped[str | None] = mapped_column(sa.String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
