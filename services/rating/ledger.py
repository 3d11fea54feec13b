"""How each case event changes rating's projection of the case (a CaseFact) and which daily
roll-up counters it moves (issue 12 §2). Pure: no broker, no session; the service
(services/rating/figures_entrypoints.py) stores the fact and adds the moves to the roll-ups.

Where a counter is put (docs/ASSESSMENT.md, "Roll-ups"):
- received: the day of receipt, no unit (the office's reception), the case's category/channel.
- dispatched, signed, signed_on_time, sign_seconds: the day of the dispatch, for the unit
  dispatched to, so that 及时签收率 is a cohort rate (of the cases dispatched in a period, how
  many were signed within the response target).
- replied, reply_seconds: the day of the reply. due, replied_on_time: the day of the reply
  deadline, counted once per round when it is settled (replied, or the overdue alert), so
  按时办结率 is (replied by the deadline) / (due in the period) and an extension before the
  deadline simply moves it.
- closed: the day of closing; rated, contacted, solved and the levels: the day of the final
  rating, or the first day of the next unpublished period when the rating's period was already
  published when it arrived (assessment.counted_in); unrated, redo, supervised: that day.
- overdue: the day of the deadline missed (resolution target, once per round).

A screened-out or merged case takes every unit contribution out again (`retract`), an approved
剔除 takes them out of the assessment basis only (the service does both with figure_moves).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Mapping

from services.common.contracts import SUPERVISED_ROUND, Status
from services.common.privacy import mask_contact, mask_phones
from services.rating.assessment import (
    AssessmentRules, counted_in, period_bounds, period_of,
)

NO_UNIT = ""
RETRACTING = ("screen_out", "merge")   # never count for a unit


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str    # department | college | other | office (config/org.yaml)


@dataclass(frozen=True)
class Move:
    """Add `delta` to `counter` of the roll-up row (day, unit, category, channel)."""
    day: date
    unit_id: str
    category: str
    channel: str
    counter: str
    delta: int = 1


@dataclass(frozen=True)
class Context:
    """What the ledger needs besides the event: the rules (zone, periods), working time, the
    units from config/org.yaml, when each period was first published, and now (when the
    figures learn of the event)."""
    rules: AssessmentRules
    working_seconds: Callable[[datetime, datetime], int]
    units: Mapping[str, Unit]
    frozen: Mapping[str, datetime]
    now: datetime

    def day(self, moment: datetime) -> date:
        return moment.astimezone(self.rules.zone).date()

    def unit(self, unit_id: str | None, name: str | None = None) -> Unit | None:
        if not unit_id:
            return None
        known = self.units.get(unit_id)
        if known is not None:
            return known
        return Unit(unit_id, name or unit_id, "other")


@dataclass
class Outcome:
    moves: list[Move] = field(default_factory=list)
    retract: bool = False   # take every unit contribution of this case out (both bases)


FACT_DEFAULTS: dict[str, Any] = {
    "anonymous": False, "round": 0, "redo_count": 0, "return_count": 0, "supervised": False,
    "instructed": False, "disputed": False, "overdue": False, "excluded": False,
}


def blank(fact) -> Any:
    """Give a new fact (a CaseFact or any object with its attributes) its defaults."""
    for name, value in FACT_DEFAULTS.items():
        if getattr(fact, name, None) is None:
            setattr(fact, name, value)
    return fact


def apply(fact, event_type: str, event: Mapping, ctx: Context) -> Outcome:
    """Change `fact` for one event (loaded by its contract) and say which counters move."""
    blank(fact)
    handler = _HANDLERS.get(event_type)
    outcome = handler(fact, event, ctx) if handler else Outcome()
    fact.updated_at = event["occurred_at"]
    return outcome


def _move(fact, ctx: Context, moment: datetime | date, counter: str, delta: int = 1,
          unit_id: str | None = None) -> Move:
    day = moment if isinstance(moment, date) and not isinstance(moment, datetime) \
        else ctx.day(moment)
    unit = fact.unit_id if unit_id is None else unit_id
    return Move(day, unit or NO_UNIT, fact.category or "", fact.channel or "", counter, delta)


# ====================================================================== the events
def _received(fact, event, ctx) -> Outcome:
    # Whether the reception was counted: only this event sets the channel (the assignment,
    # whose queue may deliver first, sets received_at too).
    first = fact.channel is None
    fact.number = event["number"]
    fact.title = event.get("title")
    fact.content = mask_phones(event["content"])
    fact.channel = event["channel"]
    fact.category = fact.category or event["category"]
    fact.received_at = event["occurred_at"]
    fact.anonymous = bool(event.get("anonymous"))
    fact.complainant_id = event["complainant"]["id"]
    fact.complainant_name = event["complainant"].get("name")
    fact.contact_phone_masked = mask_contact(event.get("contact_phone"))
    fact.location = event.get("location")
    if fact.status is None:
        fact.status = Status.RECEIVED
    if not first:
        return Outcome()
    return Outcome([_move(fact, ctx, event["occurred_at"], "received", unit_id=NO_UNIT)])


def _assigned(fact, event, ctx) -> Outcome:
    unit = ctx.unit(event["unit"]["id"], event["unit"].get("name"))
    new_round = event["round"] != fact.round
    fact.number = fact.number or event["number"]
    fact.category = event["category"]
    fact.grade = event["grade"]
    fact.unit_id, fact.unit_name, fact.unit_kind = unit.id, unit.name, unit.kind
    fact.handler_id = event["handler"]["id"]
    fact.handler_name = event["handler"].get("name")
    fact.disputed = bool(event.get("disputed")) or fact.disputed
    fact.round = event["round"]
    if event["round"] == SUPERVISED_ROUND:
        fact.instructed = True   # a 督办 round is dispatched on the leader's 批示
    fact.dispatched_at = event["occurred_at"]
    fact.signed_at = None
    fact.replied_at = None
    if new_round:
        fact.overdue = False
        fact.reply_due_at = None
        fact.sign_due_at = None
    fact.status = Status.ASSIGNED
    if fact.received_at is None:
        fact.received_at = event["received_at"]
    return Outcome([_move(fact, ctx, event["occurred_at"], "dispatched")])


def _deadline(fact, event, ctx) -> Outcome:
    if event["round"] < (fact.round or 0):
        return Outcome()
    if event["target"] == "response":
        fact.sign_due_at = event["due_at"]
    else:
        fact.reply_due_at = event["due_at"]
    return Outcome()


def _extension(fact, event, ctx) -> Outcome:
    if event["status"] == "approved" and fact.replied_at is None:
        fact.reply_due_at = event["new_due_at"]
    return Outcome()


def _supervisor(fact, event, ctx) -> Outcome:
    fact.leader_id = event["leader"]["id"]
    fact.supervised = True
    return Outcome()


def _alert(fact, event, ctx) -> Outcome:
    if (event["alert"] != "overdue" or event["target"] != "resolution"
            or event["round"] != fact.round or fact.overdue or fact.replied_at is not None):
        return Outcome()
    fact.overdue = True
    moves = [_move(fact, ctx, event["due_at"], "overdue")]
    if fact.due_round != fact.round:
        fact.due_round = fact.round
        moves.append(_move(fact, ctx, event["due_at"], "due"))
    return Outcome(moves)


def _working_seconds(ctx, start, end) -> int:
    if start is None or end is None:
        return 0
    return int(ctx.working_seconds(start, end))


def _transitioned(fact, event, ctx) -> Outcome:
    action, at = event["action"], event["occurred_at"]
    fact.number = fact.number or event["number"]
    fact.category = event["category"]
    fact.status = event["to_status"]
    fact.round = event["round"]
    if event.get("channel") and not fact.channel:
        fact.channel = event["channel"]
    if event.get("unit") and event["unit"].get("id") and not fact.unit_id:
        unit = ctx.unit(event["unit"]["id"], event["unit"].get("name"))
        fact.unit_id, fact.unit_name, fact.unit_kind = unit.id, unit.name, unit.kind
    moves: list[Move] = []
    if action == "sign_for" and fact.signed_at is None:
        fact.signed_at = at
        cohort = fact.dispatched_at or at
        moves.append(_move(fact, ctx, cohort, "signed"))
        if fact.sign_due_at is None or at <= fact.sign_due_at:
            moves.append(_move(fact, ctx, cohort, "signed_on_time"))
        moves.append(_move(fact, ctx, cohort, "sign_seconds",
                           _working_seconds(ctx, fact.dispatched_at, at)))
    elif action == "reply" and fact.replied_at is None:
        fact.replied_at = at
        fact.reply = mask_phones(event.get("note") or "") or None
        moves.append(_move(fact, ctx, at, "replied"))
        moves.append(_move(fact, ctx, at, "reply_seconds",
                           _working_seconds(ctx, fact.dispatched_at, at)))
        if fact.due_round != fact.round and fact.reply_due_at is not None:
            fact.due_round = fact.round
            moves.append(_move(fact, ctx, fact.reply_due_at, "due"))
            if at <= fact.reply_due_at:
                moves.append(_move(fact, ctx, fact.reply_due_at, "replied_on_time"))
    elif action == "return_case":
        fact.return_count = (fact.return_count or 0) + 1
    elif action in RETRACTING:
        fact.closed_at = at
        fact.closed_as = "screened_out" if action == "screen_out" else "merged"
        return Outcome(retract=True)
    elif action == "supervise":
        fact.supervised = True
    if event["to_status"] == Status.CLOSED and fact.closed_at is None:
        # closed_as is the rating's (rated) or the window's (unrated), whichever comes first
        fact.closed_at = at
        moves.append(_move(fact, ctx, at, "closed"))
    return Outcome(moves)


def rating_day(rated_at: datetime, ctx: Context) -> date:
    """The roll-up day of a final rating: its own, unless its period was published before the
    rating reached the figures; then the first day of the period it counts in."""
    period = counted_in(rated_at, ctx.now, ctx.frozen, ctx.rules)
    if period == period_of(rated_at, ctx.rules):
        return ctx.day(rated_at)
    return ctx.day(period_bounds(period, ctx.rules).start)


def _rated(fact, event, ctx) -> Outcome:
    at, decision = event["occurred_at"], event["decision"]
    if decision == "order_redo":
        fact.redo_count = (fact.redo_count or 0) + 1
        return Outcome([_move(fact, ctx, at, "redo")])
    if decision == "supervise":
        fact.supervised = True
        return Outcome([_move(fact, ctx, at, "supervised")])
    if fact.closed_as in ("screened_out", "merged"):
        return Outcome()
    fact.final_level = event["level"]
    fact.contacted = event.get("contacted")
    fact.solved = event.get("solved")
    fact.comment = mask_phones(event.get("comment") or "") or None
    fact.rated_at = at
    fact.closed_as = "rated"
    day = rating_day(at, ctx)
    moves = [_move(fact, ctx, day, "rated"), _move(fact, ctx, day, event["level"])]
    if event.get("contacted"):
        moves.append(_move(fact, ctx, day, "contacted"))
    if event.get("solved"):
        moves.append(_move(fact, ctx, day, "solved"))
    return Outcome(moves)


def _expired(fact, event, ctx) -> Outcome:
    if fact.closed_as is not None:   # rated meanwhile, screened out, merged, or seen already
        return Outcome()
    fact.closed_as = "unrated"
    return Outcome([_move(fact, ctx, event["occurred_at"], "unrated")])


_HANDLERS: dict[str, Callable[[Any, Mapping, Context], Outcome]] = {
    "complaint_received": _received,
    "complaint_assigned": _assigned,
    "deadline_set": _deadline,
    "extension_decided": _extension,
    "supervisor_assigned": _supervisor,
    "sla_alert": _alert,
    "complaint_transitioned": _transitioned,
    "complaint_rated": _rated,
    "rating_expired": _expired,
}
EVENT_TYPES = tuple(_HANDLERS)


def net(moves: list[Move]) -> dict[tuple, dict[str, int]]:
    """Moves summed per roll-up row: (day, unit, category, channel) → {counter: delta}."""
    rows: dict[tuple, dict[str, int]] = {}
    for move in moves:
        row = rows.setdefault((move.day, move.unit_id, move.category, move.channel), {})
        row[move.counter] = row.get(move.counter, 0) + move.delta
    return {key: {c: d for c, d in row.items() if d} for key, row in rows.items()
            if any(row.values())}
