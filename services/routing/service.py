"""Routing: the organisation directory and every "who handles it" decision."""
from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sqlalchemy import func, select, update

from services.common.bus import event_handler
from services.common.contracts import CATEGORIES, ContractError, load_event
from services.common.db import Database
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.settings import Settings, SettingsProvider
from services.routing.domain import Directory
from services.routing.models import Assignment
from services.routing.schemas import CategoryRouteSchema, UnitSchema

log = logging.getLogger(__name__)


class DirectoryProvider(DependencyProvider):
    """Loads the organisation directory once, when the service starts; a malformed file
    stops the service at start-up rather than misrouting cases."""

    def setup(self):
        settings = Settings.from_container_config(self.container.config)
        self.directory = Directory.load(settings.resolve_path(settings.org_directory))

    def get_dependency(self, worker_ctx):
        return self.directory


class RoutingService(HealthMixin):
    name = "routing"

    db = Database("routing")
    directory = DirectoryProvider()
    settings = SettingsProvider()
    log_context = LogContext()

    @event_handler("intake", "complaint_received")
    def on_complaint_received(self, payload):
        event = load_event("complaint_received", payload)
        if event["screened"]:
            return  # R4: out of scope, answered by its template; no unit gets it
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "routing.on_complaint_received"):
                return
            self._assign(uow, event, content=event["content"], college=event["college"],
                         received_at=event["occurred_at"], round_=0, urgent=event["urgent"])

    @event_handler("intake", "dispatch_requested")
    def on_dispatch_requested(self, payload):
        """The office sends a returned or redo case (back) to a unit, or a leader's 批示 sends
        a supervised case back to its unit: name the handler there."""
        event = load_event("dispatch_requested", payload)
        unit_id = event["unit_id"]
        if unit_id is not None and unit_id not in self.directory.units:
            # Intake asks get_unit before it sends one, so only a directory changed in
            # between gets here. No retry can make the unit exist: refuse it once, loudly,
            # and let it be parked at once (ContractError) for the office to dispatch again.
            reason = (f"dispatch of {event['number']} ({event['complaint_id']}) names unit "
                      f"{unit_id!r}, which is not in the organisation directory")
            log.error("refusing a dispatch: %s", reason)
            raise ContractError(reason)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "routing.on_dispatch_requested"):
                return
            self._assign(uow, event, unit_id=event["unit_id"], received_at=event["received_at"],
                         round_=event["round"])

    @event_handler("intake", "complaint_transitioned")
    def on_complaint_transitioned(self, payload):
        event = load_event("complaint_transitioned", payload)
        if event["action"] not in ("close", "screen_out", "return_case", "merge", "supervise"):
            return
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "routing.on_complaint_transitioned"):
                return
            # The handler's load counts open cases only.
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
                unit_id=None, urgent=False):
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
                 assisting_units=[{"id": u.id, "name": u.name} for u in decision.assisting])

    @rpc
    def get_unit(self, unit_id):
        """One unit of the directory, or None: intake checks a unit the office names before
        it asks for a dispatch there."""
        unit = self.directory.units.get(unit_id) if isinstance(unit_id, str) else None
        return UnitSchema().dump(unit) if unit is not None else None

    @rpc
    def list_units(self):
        return UnitSchema(many=True).dump(list(self.directory.units.values()))

    @rpc
    def list_category_routes(self):
        return CategoryRouteSchema(many=True).dump([
            {"category": code, "label": CATEGORIES[code],
             "unit": self.directory.units[rule.unit_id], "grade": rule.grade}
            for code, rule in self.directory.rules.items()])
