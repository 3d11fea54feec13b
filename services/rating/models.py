"""Tables the rating service owns. The rating flow (R9) fills them in the lifecycle issue."""
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
    round: Mapped[int] = mapped_column(sa.Integer)        # 1 = first reply, 2 = after redo
    level: Mapped[str] = mapped_column(sa.String(16))     # satisfied | basically | dissatisfied
    comment: Mapped[str | None] = mapped_column(sa.Text)
    rated_by: Mapped[str] = mapped_column(sa.String(64))
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime())


metadata = Base.metadata
