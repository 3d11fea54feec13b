"""Tables the intake service owns: the case (诉求件), its timeline, and the daily counter that
numbers cases. No other service reads them."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (
        sa.UniqueConstraint("complainant_id", "filing_key", name="uq_complaints_filing_key"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    status: Mapped[str] = mapped_column(sa.String(24), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    category: Mapped[str] = mapped_column(sa.String(32), index=True)
    title: Mapped[str | None] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    location: Mapped[str | None] = mapped_column(sa.String(200))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(32))
    anonymous: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    complainant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    complainant_name: Mapped[str | None] = mapped_column(sa.String(100))
    # The client's Idempotency-Key, or one the gateway made for the request.
    filing_key: Mapped[str] = mapped_column(sa.String(100))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Projection of routing's and sla's decisions, kept from their events.
    grade: Mapped[str | None] = mapped_column(sa.String(16))
    unit_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    unit_name: Mapped[str | None] = mapped_column(sa.String(100))
    handler_id: Mapped[str | None] = mapped_column(sa.String(64))
    handler_name: Mapped[str | None] = mapped_column(sa.String(100))
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    timeline: Mapped[list["TimelineEntry"]] = relationship(
        back_populates="complaint", order_by="TimelineEntry.at, TimelineEntry.id",
        cascade="all, delete-orphan")


class TimelineEntry(Base):
    """Append-only: a line is added for every step the case takes, never changed."""
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.ForeignKey("complaints.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str | None] = mapped_column(sa.String(100))
    event_id: Mapped[str | None] = mapped_column(sa.String(36))

    complaint: Mapped[Complaint] = relationship(back_populates="timeline")


class DailyCounter(Base):
    """One row per local day; the number of a case is JS-<day>-<this day's count>."""
    __tablename__ = "daily_counters"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    value: Mapped[int] = mapped_column(sa.Integer)


metadata = Base.metadata
