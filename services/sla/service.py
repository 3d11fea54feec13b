"""SLA: deadlines and timers."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sqlalchemy import select

from services.common.bus import event_handler
from services.common.contracts import load_event
from services.common.db import Database
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.settings import Settings
from services.sla.domain import DeadlinePolicy
from services.sla.models import Deadline
from services.sla.schemas import DeadlineSchema


class DeadlinePolicyProvider(DependencyProvider):
    """Built once from the settings when the service starts."""

    def setup(self):
        self.policy = DeadlinePolicy.from_settings(
            Settings.from_container_config(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.policy


class SlaService(HealthMixin):
    name = "sla"

    db = Database("sla")
    policy = DeadlinePolicyProvider()
    log_context = LogContext()

    @event_handler("routing", "complaint_assigned")
    def on_complaint_assigned(self, payload):
        event = load_event("complaint_assigned", payload)
        # The first round's clock runs from receipt, not from assignment: routing's delay is
        # the school's. A redo or a supervised round gets a new time limit from its dispatch.
        round_ = event["round"]
        starts_at = event["received_at"] if round_ == 0 else event["occurred_at"]
        due_at = self.policy.due(event["grade"], starts_at)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "sla.on_complaint_assigned"):
                return
            if uow.session.execute(select(Deadline.id).where(
                    Deadline.complaint_id == event["complaint_id"],
                    Deadline.kind == "resolution", Deadline.round == round_)).first():
                return  # re-dispatched within its round (退单): the clock does not restart
            uow.session.add(Deadline(
                complaint_id=event["complaint_id"], kind="resolution", round=round_,
                grade=event["grade"], unit_id=event["unit"]["id"], starts_at=starts_at,
                due_at=due_at, status="pending"))
            uow.emit("deadline_set", event["complaint_id"], grade=event["grade"],
                     starts_at=starts_at, due_at=due_at)

    @rpc
    def get_deadlines(self, complaint_id):
        with self.db.session() as session:
            rows = session.execute(select(Deadline).where(
                Deadline.complaint_id == complaint_id)
                .order_by(Deadline.round, Deadline.id)).scalars().all()
            return DeadlineSchema(many=True).dump(rows)
