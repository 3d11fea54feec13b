"""One way to give a service a dependency built from its settings, and one way to consume an
event exactly once.

`Built(build)`: a dependency made once per container (so once per process) by
`build(settings)`, or `build(settings, container)` when it needs the container (the metrics
that read a service's own tables at scrape time); every worker gets the same object. The
service says what it needs where it declares it:

    screening = Built(lambda settings: ScreeningRules.load(settings.resolve_path(...)))

`consumes(source, event_type)`: the idempotent consumer (cosmicpython's "handlers take a
unit of work"). The decorated method receives the event loaded with its contract
(services/common/contracts.py) and a unit of work in which the event is recorded as applied
by `<service>.<method name>`; a delivery the service has applied before never reaches it.
Its changes, the inbox record and the events it emits commit together or not at all.

    @consumes("routing", "complaint_assigned")
    def on_complaint_assigned(self, event, uow):
        ...
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable

from nameko.extensions import DependencyProvider

from services.common.bus import event_handler
from services.common.contracts import load_event
from services.common.settings import Settings


class Built(DependencyProvider):
    def __init__(self, build: Callable):
        self.build = build
        self.value = None

    def setup(self):
        settings = Settings.from_container_config(self.container.config)
        wants_container = len(inspect.signature(self.build).parameters) > 1
        self.value = self.build(settings, self.container) if wants_container \
            else self.build(settings)

    def get_dependency(self, worker_ctx):
        return self.value


def consumes(source: str, event_type: str, only_if: Callable[[dict], bool] | None = None):
    """Subscribe the method to `source`'s `event_type` (with the retry and parking of
    services.common.bus.event_handler), apply each event once. `only_if(event)`: events it
    rejects are acknowledged without opening a transaction (what this consumer ignores)."""

    def decorate(method):
        @functools.wraps(method)
        def handle(self, payload):
            event = load_event(event_type, payload)
            if only_if is not None and not only_if(event):
                return None
            with self.db.unit_of_work() as uow:
                if uow.already_applied(event, f"{self.name}.{method.__name__}"):
                    return None
                return method(self, event, uow)

        return event_handler(source, event_type)(handle)

    return decorate
