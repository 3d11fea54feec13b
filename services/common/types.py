"""Column types shared by every service."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa


class UtcDateTime(sa.types.TypeDecorator):
    """An aware datetime stored as UTC. PostgreSQL keeps the zone itself; SQLite does not,
    and would hand back naive datetimes that compare wrongly with aware ones. Naive values
    are refused on the way in: a time without a zone is a bug, not a default."""
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware one")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite via raw SQL
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
