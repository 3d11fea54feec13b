"""Routing: the organisation directory and every "who handles it" decision."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sqlalchemy import func, select

from services.common.bus import event_handler
from services.common.contracts import CATEGORIES, load_event
from services.common.db import Database
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.settings import Settings
from services.routing.domain import Directory
from services.routing.models import Assignment
from services.routing.schemas import CategoryRouteSchema, UnitSchema


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
    log_context = LogContext()

    @event_handler("intake", "complaint_received")
    def on_complaint_received(self, payload):
        event = load_event("complaint_received", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "routing.on_complaint_received"):
                return
            unit_id = self.directory.rules[event["category"]].unit_id
            load = dict(uow.session.execute(
                select(Assignment.handler_id, func.count())
                .where(Assignment.unit_id == unit_id, Assignment.open.is_(True))
                .group_by(Assignment.handler_id)).all())
            decision = self.directory.decide(event["category"], load)
            now = uow.clock.now()
            uow.session.add(Assignment(
                complaint_id=event["complaint_id"], category=event["category"],
                grade=decision.grade, unit_id=decision.unit.id,
                handler_id=decision.handler.id, assigned_at=now, open=True))
            uow.emit("complaint_assigned", event["complaint_id"], number=event["number"],
                     category=event["category"], grade=decision.grade,
                     unit={"id": decision.unit.id, "name": decision.unit.name},
                     handler={"id": decision.handler.id, "name": decision.handler.name},
                     received_at=event["occurred_at"])

    @rpc
    def list_units(self):
        return UnitSchema(many=True).dump(list(self.directory.units.values()))

    @rpc
    def list_category_routes(self):
        return CategoryRouteSchema(many=True).dump([
            {"category": code, "label": CATEGORIES[code],
             "unit": self.directory.units[rule.unit_id], "grade": rule.grade}
            for code, rule in self.directory.rules.items()])
