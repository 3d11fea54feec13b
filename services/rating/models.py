"""Tables the rating service owns."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class Rating(Base):
    __tablename__ = "ratings"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    round: Mapped[int] = mapped_column(sa.Integer)        # 0 first reply, 1 after redo, 2 督办
    level: Mapped[str] = mapped_column(sa.String(16))     # satisfied | basically | dissatisfied
    comment: Mapped[str | None] = mapped_column(sa.Text)
    contacted: Mapped[bool | None] = mapped_column(sa.Boolean)   # 回访: 是否联系 (None: not asked)
    solved: Mapped[bool | None] = mapped_column(sa.Boolean)      # 回访: 是否解决
    rated_by: Mapped[str] = mapped_column(sa.String(64))
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decision: Mapped[str | None] = mapped_column(sa.String(16))  # None for a co-complainant
    # "complainant" (they rated) or "callback" (the office phoned them and recorded their
    # answers: called_by who called, called_at when).
    via: Mapped[str] = mapped_column(sa.String(16), default="complainant",
                                     server_default="complainant")
    called_by: Mapped[str | None] = mapped_column(sa.String(64))
    called_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RatingSlot(Base):
    """Who may rate a case now: opened by the reply, closed by the rating (one per round and
    complainant; the duplicates merged into a case rate it too, X3)."""
    __tablename__ = "rating_slots"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    complainant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    round: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    primary: Mapped[bool] = mapped_column(sa.Boolean)   # whose rating decides (R9)
    unit_id: Mapped[str | None] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(32))
    open: Mapped[bool] = mapped_column(sa.Boolean)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The end of the rating window (working days after the reply): an open slot past it closes
    # the case as 未评价. None: not opened by a reply yet.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


metadata = Base.metadata

# The office's tables (issue 12) live beside their code; importing them registers them here.
from services.rating import analysis_models, figures_models, summaries_models  # noqa: E402,F401
