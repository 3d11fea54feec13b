"""Rating: satisfaction ratings and the redo/supervise decision that follows them (R9)."""
from __future__ import annotations

import uuid

from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import select

from services.common.contracts import FIRST_ROUND, CallerSchema
from services.common.db import Database
from services.common.errors import Conflict, InvalidInput, NotFound, load_input
from services.common import metrics
from services.common.health import HealthMixin
from services.common.logs import LogContext, bind_complaint
from services.common.calendar import calendar_for
from services.common.providers import Built, consumes
from services.rating.analysis_entrypoints import AnalysisEntrypoints
from services.rating.assessment import load_rules
from services.rating.domain import decide
from services.rating.figures_entrypoints import FiguresEntrypoints
from services.rating.models import Rating, RatingSlot
from services.rating.schemas import RateSchema, RatingSchema
from services.rating.summaries_entrypoints import SummariesEntrypoints


# How often each replica looks for rating windows that ended (the claim decides who closes
# which: FOR UPDATE SKIP LOCKED), and how many it closes per transaction.
EXPIRY_POLL_SECONDS = 30
EXPIRY_BATCH = 100


class RatingService(FiguresEntrypoints, SummariesEntrypoints, AnalysisEntrypoints,
                    HealthMixin):
    name = "rating"

    db = Database("rating")
    log_context = LogContext()
    # 回访's window (config/assessment.yaml), counted in the school's working days.
    rules = Built(lambda settings: load_rules())
    calendar = Built(calendar_for)

    @consumes("intake", "complaint_received")
    def on_complaint_received(self, event, uow):
        """Know who filed it from the start: they may rate it once it is replied to (before
        that they are told it is not open for rating; anyone else is told it does not exist)."""
        uow.session.merge(RatingSlot(
            complaint_id=event["complaint_id"], complainant_id=event["complainant"]["id"],
            round=FIRST_ROUND, primary=True, unit_id=None, category=event["category"], open=False,
            opened_at=event["occurred_at"]))

    @consumes("intake", "complaint_transitioned",
              only_if=lambda event: event["action"] == "reply")
    def on_complaint_transitioned(self, event, uow):
        """A reply opens the rating for everyone who filed the case (a rating closes it); an
        unrated reply closes as 未评价 at the end of the rating window."""
        expires_at = self.calendar.due_after_working_days(
            event["occurred_at"], self.rules.rating_window_working_days)
        for index, person in enumerate(event["complainants"]):
            uow.session.merge(RatingSlot(
                complaint_id=event["complaint_id"], complainant_id=person["id"],
                round=event["round"], primary=index == 0,
                unit_id=(event["unit"] or {}).get("id"), category=event["category"],
                open=True, opened_at=event["occurred_at"], expires_at=expires_at))

    @timer(interval=EXPIRY_POLL_SECONDS)
    def close_unrated(self):
        while self.expire_batch() == EXPIRY_BATCH:
            pass

    def expire_batch(self) -> int:
        """Close the rating of the replies nobody rated in time: each becomes rating_expired
        (intake closes the case as 未评价), once, whichever replica claims it."""
        with self.db.unit_of_work() as uow:
            ended = uow.session.execute(select(RatingSlot).where(
                RatingSlot.open.is_(True), RatingSlot.primary.is_(True),
                RatingSlot.expires_at <= uow.clock.now()).order_by(RatingSlot.expires_at)
                .limit(EXPIRY_BATCH).with_for_update(skip_locked=True)).scalars().all()
            for slot in ended:
                for other in uow.session.execute(select(RatingSlot).where(
                        RatingSlot.complaint_id == slot.complaint_id,
                        RatingSlot.round == slot.round, RatingSlot.open.is_(True))).scalars():
                    other.open = False  # the merged duplicates' filers too: the case closes
                uow.emit("rating_expired", slot.complaint_id, round=slot.round,
                         unit={"id": slot.unit_id, "name": None} if slot.unit_id else None)
        return len(ended)

    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def rate(self, complaint_id, rater, rating):
        """The complainant rates the reply: 满意 / 基本满意 / 不满意 with a comment. Only who
        filed the case may (anyone else: NotFound); only once per reply (Conflict)."""
        rating = load_input(RateSchema(), rating)
        rater = load_input(CallerSchema(), rater)
        bind_complaint(complaint_id)
        with self.db.unit_of_work() as uow:
            slots = uow.session.execute(select(RatingSlot).where(
                RatingSlot.complaint_id == complaint_id,
                RatingSlot.complainant_id == rater["id"]).order_by(RatingSlot.round.desc())
                .with_for_update()).scalars().all()
            if not slots:
                raise NotFound(f"complaint {complaint_id} not found")
            slot = slots[0]
            if not slot.open:
                raise Conflict({"code": "not_open_for_rating",
                                "message": "该诉求当前不在待评价状态(已评价或尚未答复)"})
            slot.open = False
            decision = decide(rating["level"], slot.round) if slot.primary else None
            record = Rating(id=str(uuid.uuid4()), complaint_id=complaint_id, round=slot.round,
                            level=rating["level"], comment=rating["comment"],
                            contacted=rating["contacted"], solved=rating["solved"],
                            rated_by=rater["id"], rated_at=uow.clock.now(), decision=decision)
            uow.session.add(record)
            unit = slot.unit_id or ""
            if decision is not None:
                uow.emit("complaint_rated", complaint_id, level=rating["level"],
                         round=slot.round, decision=decision,
                         rater={"id": rater["id"], "name": rater["name"]},
                         comment=rating["comment"], contacted=rating["contacted"],
                         solved=rating["solved"])
        metrics.RATINGS.labels(rating["level"], unit).inc()  # counted once committed
        if decision in ("order_redo", "supervise"):
            (metrics.REDO if decision == "order_redo" else metrics.SUPERVISED).labels(unit).inc()
        return RatingSchema().dump(record)

