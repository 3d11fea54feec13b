"""Routing: the organisation directory and every "who handles it" decision."""
from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from nameko.rpc import rpc
from sqlalchemy import func, select, update

from services.common.contracts import ContractError
from services.common.db import Database
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.providers import Built, consumes
from services.common.settings import SettingsProvider
from services.routing.domain import Directory
from services.routing.models import Assignment
from services.routing.schemas import UnitSchema

log = logging.getLogger(__name__)
# What ends a case's assignment: the handler's load counts open cases only.
ENDS_ASSIGNMENT = ("close", "screen_out", "return_case", "merge", "supervise")


class RoutingService(HealthMixin):
    name = "routing"

    db = Database("routing")
    # Loaded once, when the service starts: a malformed file stops the service at start-up
    # rather than misrouting cases.
    directory = Built(lambda settings: Directory.load(settings.resolve_path(
        settings.org_directory)))
    settings = SettingsProvider()
    log_context = LogContext()

    # R4: a screened-out case is answered by its template; no unit gets it.
    @consumes("intake", "complaint_received", only_if=lambda event: not event["screened"])
    def on_complaint_received(self, event, uow):
        self._assign(uow, event, content=event["content"], college=event["college"],
                     received_at=event["occurred_at"], round_=0, urgent=event["urgent"],
                     filed_by={"complainant": event["complainant"],
                               "reporter_unit": event["reporter_unit"]})

    @consumes("intake", "dispatch_requested")
    def on_dispatch_requested(self, event, uow):
        """The office sends a returned or redo case (back) to a unit, or a leader's 批示 sends
        a supervised case back to its unit: name the handler there."""
        unit_id = event["unit_id"]
        if unit_id is not None and unit_id not in self.directory.units:
            # Intake asks get_unit before it sends one, so only a directory changed in
            # between gets here. No retry can make the unit exist: refuse it once, loudly,
            # and let it be parked at once (ContractError) for the office to dispatch again.
            reason = (f"dispatch of {event['number']} ({event['complaint_id']}) names unit "
                      f"{unit_id!r}, which is not in the organisation directory")
            log.error("refusing a dispatch: %s", reason)
            raise ContractError(reason)
        self._assign(uow, event, unit_id=event["unit_id"], received_at=event["received_at"],
                     round_=event["round"])

    @consumes("intake", "complaint_transitioned",
              only_if=lambda event: event["action"] in ENDS_ASSIGNMENT)
    def on_complaint_transitioned(self, event, uow):
        uow.session.execute(update(Assignment).where(
            Assignment.complaint_id == event["complaint_id"]).values(open=False))
        if event["action"] == "supervise":
            leader = self.directory.leader_for(event["category"])
            if leader is None:  # every category has a leader (Directory.check)
                raise LookupError(f"no supervising leader for {event['category']}")
            uow.emit("supervisor_assigned", event["complaint_id"], number=event["number"],
                     category=event["category"],
                     leader={"id": leader.id, "name": leader.name})

    def _assign(self, uow, event, *, received_at, round_, content="", college=None,
                unit_id=None, urgent=False, filed_by=None):
        category = event["category"]
        load = dict(uow.session.execute(
            select(Assignment.handler_id, func.count())
            .where(Assignment.open.is_(True)).group_by(Assignment.handler_id)).all())
        now = uow.clock.now()
        weekday = now.astimezone(ZoneInfo(self.settings.timezone)).weekday()
        decision = self.directory.decide(category, load, content=content, college=college,
                                         weekday=weekday, unit_id=unit_id)
        # R7 轻重缓急: an urgent matter gets the shortest limit whatever its category.
        grade = self.settings.sla_urgent_grade if urgent else decision.grade
        leader = self.directory.leader_for(category)
        values = dict(category=category, grade=grade, unit_id=decision.unit.id,
                      handler_id=decision.handler.id, assigned_at=now, open=True)
        existing = uow.session.get(Assignment, event["complaint_id"])
        if existing is None:
            uow.session.add(Assignment(complaint_id=event["complaint_id"], **values))
        else:
            for key, value in values.items():
                setattr(existing, key, value)
        uow.emit("complaint_assigned", event["complaint_id"], number=event["number"],
                 category=category, grade=grade,
                 unit={"id": decision.unit.id, "name": decision.unit.name},
                 unit_head={"id": decision.unit.head.id, "name": decision.unit.head.name},
                 leader={"id": leader.id, "name": leader.name} if leader else None,
                 handler={"id": decision.handler.id, "name": decision.handler.name},
                 received_at=received_at, disputed=decision.disputed, round=round_,
                 assisting_units=[{"id": u.id, "name": u.name} for u in decision.assisting],
                 **(filed_by or {}))

    @rpc
    def get_unit(self, unit_id):
        """One unit of the directory, or None: intake checks a unit the office names before
        it asks for a dispatch there."""
        unit = self.directory.units.get(unit_id) if isinstance(unit_id, str) else None
        return UnitSchema().dump(unit) if unit is not None else None
