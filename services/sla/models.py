"""Tables the SLA service owns."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class Deadline(Base):
    __tablename__ = "deadlines"
    __table_args__ = (
        sa.UniqueConstraint("complaint_id", "kind", "round",
                            name="uq_deadlines_complaint_kind"),
        # The poller (SLA issue) reads pending rows by due time only.
        sa.Index("ix_deadlines_pending_due", "due_at",
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(24))  # "resolution" for now
    round: Mapped[int] = mapped_column(sa.Integer, default=0)  # 0, 1 after redo, 2 督办
    grade: Mapped[str] = mapped_column(sa.String(16))
    unit_id: Mapped[str] = mapped_column(sa.String(64))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")


metadata = Base.metadata
