"""Tables of the weekly and monthly summaries (issue 12 §3). Registered on rating's one metadata
(services/rating/models.py imports this module).

A summary is made once per (kind, period): the unique key is the claim that lets exactly one
rating replica make it (the others' inserts fail on it), and asking again for the same period
returns the one made. Its content is kept as JSON (what the API answers), as markdown (the
page and the work-group digest) and its charts as PNG.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.common.types import UtcDateTime
from services.rating.models import Base


class Summary(Base):
    __tablename__ = "summaries"
    __table_args__ = (sa.UniqueConstraint("kind", "period", name="uq_summaries_period"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))            # weekly | monthly
    period: Mapped[str] = mapped_column(sa.String(16))          # 2026-W48 | 2026-11
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    trigger: Mapped[str] = mapped_column(sa.String(16))         # schedule | request
    generated_by: Mapped[str] = mapped_column(sa.String(64))    # "system" or the office user
    generated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    content: Mapped[dict] = mapped_column(sa.JSON)
    markdown: Mapped[str] = mapped_column(sa.Text)              # the page: every item
    digest: Mapped[str] = mapped_column(sa.Text)                # the work-group post


class SummaryChart(Base):
    __tablename__ = "summary_charts"

    summary_id: Mapped[str] = mapped_column(sa.ForeignKey("summaries.id", ondelete="CASCADE"),
                                            primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # rates | received
    title: Mapped[str] = mapped_column(sa.String(64))
    png: Mapped[bytes] = mapped_column(sa.LargeBinary)
    md5: Mapped[str] = mapped_column(sa.String(32))
