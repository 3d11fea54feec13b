"""Rating: satisfaction ratings and the redo/supervise decision that follows them (R9)."""
from __future__ import annotations

import uuid
from datetime import timedelta

from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import select

from services.common.contracts import FIRST_ROUND, CallerSchema
from services.common.db import Database
from services.common.errors import Conflict, InvalidInput, NotFound, load_input, load_viewer
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
from services.rating.schemas import CallbackSchema, RateSchema, RatingSchema
from services.rating.summaries_entrypoints import SummariesEntrypoints


# How often each replica looks for rating windows that ended (the claim decides who closes
# which: FOR UPDATE SKIP LOCKED), and how many it closes per transaction.
EXPIRY_POLL_SECONDS = 30
EXPIRY_BATCH = 100
# The office dates a phone 回访 from its own clock: allow it to run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


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
        """The complainant's 回访: 满意 / 基本满意 / 不满意, whether the unit contacted them and
        whether it is solved, with a comment. Only who filed the case may (anyone else:
        NotFound); only once per reply (Conflict)."""
        rating = load_input(RateSchema(), rating)
        rater = load_input(CallerSchema(), rater)
        bind_complaint(complaint_id)
        return self._record(complaint_id, rating, RatingSlot.complainant_id == rater["id"],
                            lambda slot: {"id": rater["id"], "name": rater["name"]})

    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def record_callback(self, complaint_id, caller, callback):
        """The office's phone 回访 for a complainant who did not rate: their answers, recorded
        for the case's (first) complainant by who called, under the same rules as their own
        rating (once per reply; the level decides). Only the office (anyone else: NotFound)."""
        viewer = load_viewer(caller)
        if not viewer.has("office"):
            raise NotFound(f"complaint {complaint_id} not found")
        callback = load_input(CallbackSchema(), callback)
        bind_complaint(complaint_id)
        now = self.db.clock.now()
        called_at = callback["called_at"] or now
        if called_at > now + CLOCK_SKEW:
            raise InvalidInput({"called_at": ["回访时间不能是未来的时间 "
                                              "(a callback cannot be dated in the future)"]})
        return self._record(complaint_id, callback, RatingSlot.primary.is_(True),
                            lambda slot: {"id": slot.complainant_id, "name": None},
                            called_by={"id": viewer.id, "name": viewer.name},
                            called_at=called_at)

    def _record(self, complaint_id, answers, whose, rater_of, called_by=None, called_at=None):
        """Record a 回访 on the newest slot `whose` selects: Conflict unless it is open (not
        replied yet, rated already, or closed as 未评价); the primary complainant's decides."""
        with self.db.unit_of_work() as uow:
            slot = uow.session.execute(select(RatingSlot).where(
                RatingSlot.complaint_id == complaint_id, whose)
                .order_by(RatingSlot.round.desc()).limit(1).with_for_update()).scalar()
            if slot is None:
                raise NotFound(f"complaint {complaint_id} not found")
            if not slot.open:
                raise Conflict({"code": "not_open_for_rating",
                                "message": "该诉求当前不在待评价状态(已评价或尚未答复)"})
            if called_at is not None and called_at < slot.opened_at:
                raise InvalidInput({"called_at": ["回访时间不能早于答复时间 "
                                                  "(a callback cannot be dated before the reply)"]})
            slot.open = False
            rater = rater_of(slot)
            via = "callback" if called_by else "complainant"
            decision = decide(answers["level"], slot.round) if slot.primary else None
            record = Rating(id=str(uuid.uuid4()), complaint_id=complaint_id, round=slot.round,
                            level=answers["level"], comment=answers["comment"],
                            contacted=answers["contacted"], solved=answers["solved"],
                            rated_by=rater["id"], rated_at=uow.clock.now(), decision=decision,
                            via=via, called_by=called_by and called_by["id"],
                            called_at=called_at)
            uow.session.add(record)
            unit = slot.unit_id or ""
            if decision is not None:
                uow.emit("complaint_rated", complaint_id, level=answers["level"],
                         round=slot.round, decision=decision, rater=rater,
                         comment=answers["comment"], contacted=answers["contacted"],
                         solved=answers["solved"], via=via, called_by=called_by)
        metrics.RATINGS.labels(answers["level"], unit).inc()  # counted once committed
        if decision in ("order_redo", "supervise"):
            (metrics.REDO if decision == "order_redo" else metrics.SUPERVISED).labels(unit).inc()
        return RatingSchema().dump(record)
