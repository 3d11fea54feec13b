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
        # jiesu_backlog's GROUP BY is answered from this index alone (bench/metrics.py).
        sa.Index("ix_complaints_backlog", "status", "unit_id", "category"),
        # the head's live view: what the unit received today (views.unit_figures)
        sa.Index("ix_complaints_unit_received", "unit_id", "received_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    status: Mapped[str] = mapped_column(sa.String(24), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    # None only for a hotline voicemail until the office classifies it (then it is routed).
    category: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    title: Mapped[str | None] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    location: Mapped[str | None] = mapped_column(sa.String(200))
    # Where an Open311 app placed it (WGS-84 degrees), as the app gave it.
    lat: Mapped[float | None] = mapped_column(sa.Float)
    long: Mapped[float | None] = mapped_column(sa.Float)
    contact_phone: Mapped[str | None] = mapped_column(sa.String(32))
    anonymous: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    sla_state: Mapped[str] = mapped_column(sa.String(16), default="normal")  # |warning|overdue
    response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    timetable: Mapped[str | None] = mapped_column(sa.Text)  # JSON list of milestones (R7)
    complainant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    complainant_name: Mapped[str | None] = mapped_column(sa.String(100))
    # R3: the complainant's pledge that it is true, in the words of the channel that took it
    # (None only for a unit's own report, R10, and for cases filed before it was recorded).
    pledge: Mapped[str | None] = mapped_column(sa.Text)
    # The hotline call it was filed from (an operator's filing or a voicemail).
    call_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
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
    # The lifecycle (lifecycle.py) and what its rules need.
    round: Mapped[int] = mapped_column(sa.Integer, default=0)
    first_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lead_unit_id: Mapped[str | None] = mapped_column(sa.String(64))
    disputed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    assisting_units: Mapped[str | None] = mapped_column(sa.Text)  # JSON list of {id, name}
    complainant_college: Mapped[str | None] = mapped_column(sa.String(64))
    proactive: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # R10: found by staff
    reporter_unit_id: Mapped[str | None] = mapped_column(sa.String(64))
    screened_rule: Mapped[str | None] = mapped_column(sa.String(64))
    screened_kind: Mapped[str | None] = mapped_column(sa.String(32))
    reply_outcome: Mapped[str | None] = mapped_column(sa.String(32))
    reply_text: Mapped[str | None] = mapped_column(sa.Text)
    instructed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    instruction: Mapped[str | None] = mapped_column(sa.Text)
    supervisor_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    supervisor_name: Mapped[str | None] = mapped_column(sa.String(100))
    merged_into: Mapped[str | None] = mapped_column(sa.String(36))
    last_rating: Mapped[str | None] = mapped_column(sa.String(16))

    timeline: Mapped[list["TimelineEntry"]] = relationship(
        back_populates="complaint", order_by="TimelineEntry.at, TimelineEntry.id",
        cascade="all, delete-orphan")


class TimelineEntry(Base):
    """Append-only: a line is added for every step the case takes, never changed."""
    __tablename__ = "timeline"
    # the head's live view: what was closed today (views.unit_figures)
    __table_args__ = (sa.Index("ix_timeline_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.ForeignKey("complaints.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str | None] = mapped_column(sa.String(100))
    event_id: Mapped[str | None] = mapped_column(sa.String(36))

    complaint: Mapped[Complaint] = relationship(back_populates="timeline")


class CommunicationRecord(Base):
    """R6: a phone call (电话沟通) or a meeting (见面沟通) with the complainant."""
    __tablename__ = "communications"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.ForeignKey("complaints.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    with_whom: Mapped[str] = mapped_column(sa.String(100))
    summary: Mapped[str] = mapped_column(sa.Text)
    round: Mapped[int] = mapped_column(sa.Integer)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """X6: every action on a case, who did it and what changed. Rows are only ever added."""
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[str] = mapped_column(sa.String(64))
    actor_role: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(32))
    changes: Mapped[str] = mapped_column(sa.Text)  # JSON {field: [before, after]}


class CaseLink(Base):
    """X3: the office links similar cases (举一反三) or merges a duplicate into another."""
    __tablename__ = "case_links"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    other_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # similar | duplicate
    linked_by: Mapped[str] = mapped_column(sa.String(64))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Attachment(Base):
    """X4: a photo or voice message, stored by its SHA-256 (content-addressed)."""
    __tablename__ = "attachments"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    size: Mapped[int] = mapped_column(sa.Integer)
    added_by: Mapped[str] = mapped_column(sa.String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DailyCounter(Base):
    """One row per local day; the number of a case is JS-<day>-<this day's count>."""
    __tablename__ = "daily_counters"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    value: Mapped[int] = mapped_column(sa.Integer)


class HotlineCall(Base):
    """One hotline call as the call centre's events describe it (services/intake/calls.py's
    CallLog as JSON, with the ids of the events already applied), and the case a voicemail
    became. The row is locked while an event is applied, so replicas apply them in turn."""
    __tablename__ = "hotline_calls"

    call_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    state: Mapped[str | None] = mapped_column(sa.String(16))
    log: Mapped[str] = mapped_column(sa.Text)
    complaint_id: Mapped[str | None] = mapped_column(sa.String(36))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


metadata = Base.metadata
