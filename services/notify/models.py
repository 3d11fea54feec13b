"""Tables the notify service owns."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class Notification(Base):
    """A message to a person. Written in the same transaction as the event that caused it
    (so it cannot be lost) and delivered after commit; `status` says how far it got."""
    __tablename__ = "notifications"
    __table_args__ = (
        # One message per cause and recipient, however often the cause is delivered.
        sa.UniqueConstraint("event_id", "recipient_role", "recipient_id",
                            name="uq_notifications_cause"),
        sa.Index("ix_notifications_pending", "created_at",
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    event_id: Mapped[str] = mapped_column(sa.String(36))
    recipient_role: Mapped[str] = mapped_column(sa.String(16))
    recipient_id: Mapped[str] = mapped_column(sa.String(64))
    recipient_name: Mapped[str | None] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))
    # Where the channel delivers it (an openid, a phone number), fixed when it is recorded
    # so a resend goes to the same place.
    address: Mapped[str | None] = mapped_column(sa.String(128))
    template: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class CaseContact(Base):
    """Who filed a case and how they hear from us, kept from complaint_received, so that
    notices caused by other services' events (an extension) reach the complainant."""
    __tablename__ = "case_contacts"

    complaint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    complainant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    complainant_name: Mapped[str | None] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))
    # The phone the complainant gave (a hotline caller's number): SMS goes there.
    phone: Mapped[str | None] = mapped_column(sa.String(32))


class WorkgroupPost(Base):
    """A summary (周汇总/月总结) posted to the office's work group: one per summary, whatever
    how often its event arrives (the key), with the charts that go with the post (a resend
    posts them too)."""
    __tablename__ = "workgroup_posts"

    summary_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    notification_id: Mapped[str] = mapped_column(sa.String(36))
    title: Mapped[str] = mapped_column(sa.String(200))
    # [{"name", "title", "png" (base64), "md5"}], as summary_published carried them.
    charts: Mapped[list] = mapped_column(sa.JSON)


metadata = Base.metadata
