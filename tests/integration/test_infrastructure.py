"""The machinery under the services: PostgreSQL queries yield to other greenthreads, RPC
between services gives up instead of waiting forever, every service answers `health`."""
from __future__ import annotations

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook
from sqlalchemy import text

from services.common.bus import RpcTimeout, rpc_proxy
from services.common.db import make_engine
from services.common.settings import SERVICE_NAMES
from services.common.runner import service_class


def test_a_slow_query_does_not_block_other_greenthreads(databases):
    """psycogreen's wait callback is installed: while one greenthread waits on PostgreSQL,
    the others keep running (without it the ticker would not tick at all)."""
    engine = make_engine(databases["intake"])
    ticks = []

    def ticker():
        for _ in range(200):
            ticks.append(1)
            eventlet.sleep(0.005)

    def slow_query():
        with engine.connect() as conn:
            before = len(ticks)
            conn.execute(text("SELECT pg_sleep(0.5)"))
            return len(ticks) - before

    ticking = eventlet.spawn(ticker)
    ticks_during_query = eventlet.spawn(slow_query).wait()
    ticking.kill()
    engine.dispose()
    assert ticks_during_query > 10


class Caller:
    name = "caller"
    nobody = rpc_proxy("nobody-home", timeout=0.5)

    @rpc
    def call(self):
        return self.nobody.anything()


def test_rpc_to_a_service_that_is_down_times_out(container_factory, service_config):
    # The service ran before (its durable queue exists) but no process consumes it now:
    # nameko's own proxy would wait forever.
    with Connection(service_config["AMQP_URI"]) as conn:
        Queue("rpc-nobody-home", Exchange("nameko-rpc", type="topic", durable=True),
              routing_key="nobody-home.*", durable=True)(conn.default_channel).declare()
    container = container_factory(Caller, service_config)
    container.start()
    with entrypoint_hook(container, "call") as call:
        with pytest.raises(RpcTimeout):
            call()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_service_starts_and_answers_health(container_factory, service_config, service):
    container = container_factory(service_class(service), service_config)
    container.start()
    with entrypoint_hook(container, "health") as health:
        assert health() == {"service": service, "status": "ok"}
