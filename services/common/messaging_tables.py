"""The outbox and inbox tables every service carries in its own database.

They are defined once, here, on a metadata of their own; a Table is not tied to a database in
SQLAlchemy 2, so each service's unit of work uses these same objects against its own engine.
Each service's first migration creates them through `create_messaging_tables`.
"""
from __future__ import annotations

import sqlalchemy as sa

from services.common.types import UtcDateTime

messaging_metadata = sa.MetaData()


def _outbox_columns():
    return [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UtcDateTime()),
        sa.Column("last_error", sa.Text),
    ]


def _inbox_columns():
    return [
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
    ]


# The relay only ever looks at unsent rows: keep its index as small as the backlog.
_UNSENT = dict(postgresql_where=sa.text("sent_at IS NULL"), sqlite_where=sa.text("sent_at IS NULL"))

outbox = sa.Table("outbox", messaging_metadata, *_outbox_columns(),
                  sa.Index("ix_outbox_unsent", "id", **_UNSENT))
inbox = sa.Table("inbox", messaging_metadata, *_inbox_columns())


def create_messaging_tables(op) -> None:
    """Called from each service's initial Alembic migration (frozen at version 1: a later
    change to these tables gets a migration of its own in every service)."""
    op.create_table("outbox", *_outbox_columns())
    op.create_index("ix_outbox_unsent", "outbox", ["id"], **_UNSENT)
    op.create_table("inbox", *_inbox_columns())


def drop_messaging_tables(op) -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_table("outbox")
