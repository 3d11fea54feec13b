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
        # The targets of a round are unique by kind (milestone_id ''), a timetable's steps by
        # their milestone id.
        sa.UniqueConstraint("complaint_id", "kind", "round", "milestone_id",
                            name="uq_deadlines_complaint_kind"),
        # The poller (SLA issue) reads pending rows by due time only.
        sa.Index("ix_deadlines_pending_due", "due_at",
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36))
    # resolution | response | milestone | feedback (a long-term matter's timetable, R7)
    kind: Mapped[str] = mapped_column(sa.String(24))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    milestone_id: Mapped[str] = mapped_column(sa.String(36), default="", index=True)
    round: Mapped[int] = mapped_column(sa.Integer, default=0)  # 0, 1 after redo, 2 督办
    grade: Mapped[str] = mapped_column(sa.String(16))
    unit_id: Mapped[str] = mapped_column(sa.String(64))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending|met|cancelled
    state: Mapped[str] = mapped_column(sa.String(16), default="normal")  # normal|warning|overdue
    number: Mapped[str | None] = mapped_column(sa.String(32))
    category: Mapped[str | None] = mapped_column(sa.String(32))
    # Who hears of it when it runs late (R12): the ladder's people, from the assignment.
    recipients: Mapped[str | None] = mapped_column(sa.Text)  # JSON {level: {id, name}}
    met_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Timer(Base):
    """One moment the SLA must speak up (warning, urging, overdue, an escalation step).
    Fired by whichever replica claims it first (FOR UPDATE SKIP LOCKED); cost per poll grows
    with the number due, not the number pending (partial index on due_at)."""
    __tablename__ = "timers"
    __table_args__ = (
        sa.Index("ix_timers_pending_due", "due_at",
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    deadline_id: Mapped[int] = mapped_column(sa.ForeignKey("deadlines.id"), index=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(16))    # warning | urge | overdue | escalate
    level: Mapped[str] = mapped_column(sa.String(16))   # handler | head | office | leader
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # |fired|cancelled
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Extension(Base):
    """X2: a handler asks for more time with a reason; the head or the office decides."""
    __tablename__ = "extensions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    deadline_id: Mapped[int] = mapped_column(sa.ForeignKey("deadlines.id"), index=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(sa.Text)
    old_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    new_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(sa.String(16))  # requested | approved | refused
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(sa.Text)


class CaseAccess(Base):
    """Who may read a case's deadlines (services.common.access.may_read), as the events tell
    it: complaint_assigned (the unit, a disputed case's assisting units; the first one also
    who filed it and an R10 reporter's unit), supervisor_assigned (the leader). Each event
    fills its own columns, whichever arrives first."""
    __tablename__ = "case_access"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    complainant_id: Mapped[str | None] = mapped_column(sa.String(64))
    reporting_unit_id: Mapped[str | None] = mapped_column(sa.String(64))
    unit_id: Mapped[str | None] = mapped_column(sa.String(64))
    assisting_unit_ids: Mapped[list | None] = mapped_column(sa.JSON)
    supervisor_id: Mapped[str | None] = mapped_column(sa.String(64))


metadata = Base.metadata
