"""Tables the routing service owns."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class Assignment(Base):
    """Which unit and handler a case was sent to. One row per case for now; transfers and
    redo routing (a later issue) will add rows of their own."""
    __tablename__ = "assignments"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(32))
    grade: Mapped[str] = mapped_column(sa.String(16))
    unit_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    handler_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    open: Mapped[bool] = mapped_column(sa.Boolean, default=True)


metadata = Base.metadata
