"""Rating: satisfaction ratings, redo/supervise decisions, 三率 KPIs (behaviour arrives with
the lifecycle issue; the service, its database and its contract exist from the start)."""
from __future__ import annotations

from nameko.rpc import rpc
from sqlalchemy import select

from services.common.db import Database
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.rating.models import Rating
from services.rating.schemas import RatingSchema


class RatingService(HealthMixin):
    name = "rating"

    db = Database("rating")
    log_context = LogContext()

    @rpc
    def list_ratings(self, complaint_id):
        with self.db.session() as session:
            rows = session.execute(select(Rating).where(Rating.complaint_id == complaint_id)
                                   .order_by(Rating.round)).scalars().all()
            return RatingSchema(many=True).dump(rows)
