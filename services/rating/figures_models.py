"""Tables of rating's projection of the case events, the daily roll-ups, exclusions and snapshots (issue 12 §2). Registered on rating's one metadata
(services/rating/models.py imports this module).

- `case_facts`: one row per complaint, what rating knows of it from the bus (summaries and
  analysis read it too: the column names are an interface).
- `figure_rollups`: the daily counters per (basis, day in Asia/Shanghai, unit, category,
  channel); any period's figures are a GROUP BY over them.
- `figure_moves`: every counter move of every case (the roll-ups are their sums), so that an
  approved 剔除 or a merge can take exactly that case's contributions out again.
- `exclusions`: 剔除 requests and decisions; `assessment_snapshots`: published versions.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.common.types import UtcDateTime
from services.rating.models import Base

# The counters of a roll-up row (services/rating/ledger.py moves them). *_seconds are sums of
# working seconds (sign: dispatch → sign; reply: dispatch → reply).
COUNTERS = ("received", "dispatched", "signed", "signed_on_time", "sign_seconds", "replied",
            "replied_on_time", "due", "reply_seconds", "closed", "rated", "contacted", "solved",
            "satisfied", "basically", "dissatisfied", "unrated", "redo", "supervised",
            "overdue")
_BIG = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class CaseFact(Base):
    """One complaint as rating's consumers last saw it (casefact.md lists the fixed columns)."""
    __tablename__ = "case_facts"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    number: Mapped[str | None] = mapped_column(sa.String(32))
    title: Mapped[str | None] = mapped_column(sa.Text)
    # The ledger's texts (xlsx 案件台账), phones masked when they are written (X5).
    content: Mapped[str | None] = mapped_column(sa.Text)
    reply: Mapped[str | None] = mapped_column(sa.Text)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    category: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    grade: Mapped[str | None] = mapped_column(sa.String(16))
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    anonymous: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    complainant_id: Mapped[str | None] = mapped_column(sa.String(64))
    complainant_name: Mapped[str | None] = mapped_column(sa.String(128))
    contact_phone_masked: Mapped[str | None] = mapped_column(sa.String(32))
    location: Mapped[str | None] = mapped_column(sa.Text)
    unit_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    unit_name: Mapped[str | None] = mapped_column(sa.String(128))
    unit_kind: Mapped[str | None] = mapped_column(sa.String(16))  # department|college|other|office
    handler_id: Mapped[str | None] = mapped_column(sa.String(64))
    handler_name: Mapped[str | None] = mapped_column(sa.String(128))
    # Indexed: the summaries read the open cases (a few hundred of a million) by status.
    status: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    round: Mapped[int] = mapped_column(sa.Integer, default=0)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sign_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reply_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    closed_as: Mapped[str | None] = mapped_column(sa.String(16))  # rated|unrated|screened_out|merged
    redo_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    return_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    supervised: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    leader_id: Mapped[str | None] = mapped_column(sa.String(64))
    instructed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    disputed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    overdue: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    final_level: Mapped[str | None] = mapped_column(sa.String(16))
    contacted: Mapped[bool | None] = mapped_column(sa.Boolean)
    solved: Mapped[bool | None] = mapped_column(sa.Boolean)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    excluded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The round whose reply deadline was counted as due (on time or overdue): once per round.
    due_round: Mapped[int | None] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class FigureRollup(Base):
    """One day's counters of one unit × category × channel on one basis ("full" counts every
    case; "assessment" leaves out the approved 剔除). unit_id "" is no unit (intake's
    reception, before dispatch); category and channel "" are unknown."""
    __tablename__ = "figure_rollups"

    basis: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    received: Mapped[int] = mapped_column(sa.Integer, default=0)
    dispatched: Mapped[int] = mapped_column(sa.Integer, default=0)
    signed: Mapped[int] = mapped_column(sa.Integer, default=0)
    signed_on_time: Mapped[int] = mapped_column(sa.Integer, default=0)
    sign_seconds: Mapped[int] = mapped_column(_BIG, default=0)
    replied: Mapped[int] = mapped_column(sa.Integer, default=0)
    replied_on_time: Mapped[int] = mapped_column(sa.Integer, default=0)
    due: Mapped[int] = mapped_column(sa.Integer, default=0)
    reply_seconds: Mapped[int] = mapped_column(_BIG, default=0)
    closed: Mapped[int] = mapped_column(sa.Integer, default=0)
    rated: Mapped[int] = mapped_column(sa.Integer, default=0)
    contacted: Mapped[int] = mapped_column(sa.Integer, default=0)
    solved: Mapped[int] = mapped_column(sa.Integer, default=0)
    satisfied: Mapped[int] = mapped_column(sa.Integer, default=0)
    basically: Mapped[int] = mapped_column(sa.Integer, default=0)
    dissatisfied: Mapped[int] = mapped_column(sa.Integer, default=0)
    unrated: Mapped[int] = mapped_column(sa.Integer, default=0)
    redo: Mapped[int] = mapped_column(sa.Integer, default=0)
    supervised: Mapped[int] = mapped_column(sa.Integer, default=0)
    overdue: Mapped[int] = mapped_column(sa.Integer, default=0)

    __table_args__ = (sa.Index("ix_figure_rollups_day", "day"),)


class FigureMove(Base):
    """One counter move of one case (the roll-ups are the sums of these), kept so that an
    approved 剔除 or a merge takes out exactly what that case added, wherever it was added."""
    __tablename__ = "figure_moves"

    id: Mapped[int] = mapped_column(_BIG, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    day: Mapped[date] = mapped_column(sa.Date)
    unit_id: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(16))
    counter: Mapped[str] = mapped_column(sa.String(24))
    delta: Mapped[int] = mapped_column(_BIG)
    # Whether the move is in the assessment basis (False: the case was excluded when it moved).
    assessed: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class Exclusion(Base):
    """考核剔除: a unit's request that a case leave its assessment figures, and the office's
    decision (audited: who, when, why)."""
    __tablename__ = "exclusions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    unit_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))   # requested | approved | refused
    reason: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[list] = mapped_column(sa.JSON)       # attachment sha256s
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    requested_by_name: Mapped[str | None] = mapped_column(sa.String(128))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_by_name: Mapped[str | None] = mapped_column(sa.String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(sa.Text)


class AssessmentSnapshot(Base):
    """A published period on one basis, one row per version (a correction adds a version)."""
    __tablename__ = "assessment_snapshots"

    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    basis: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    frozen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    first_frozen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    published_by: Mapped[str] = mapped_column(sa.String(64))
    published_by_name: Mapped[str | None] = mapped_column(sa.String(128))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # {"unit": <the API's groups>, "category": {...}}: what get_assessment answers when frozen.
    figures: Mapped[dict] = mapped_column(sa.JSON)
