"""One running system for a whole test module: the table-driven suites ask hundreds of
questions of the same system, and starting one per question would take the suite's time
(tests/conftest.py `start_system` starts one per test).

Use from a module:

    system = module_system_fixture()   # a module-scoped fixture named `system`
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import JWT_SECRET, RunningSystem, free_port

ONE_PROCESS = [["intake", "routing", "sla", "notify", "rating", "gateway"]]


def module_system_fixture(layout=ONE_PROCESS, **env):
    @pytest.fixture(scope="module")
    def system(request, vhost_pipeline, pg_databases, tmp_path_factory):
        from services.common.system import System

        amqp = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
        databases = pg_databases.empty()
        with vhost_pipeline.get() as vhost:
            environment = {
                "JIESU_AMQP_URI": f"{amqp.scheme}://{amqp.netloc}/{vhost}",
                "JIESU_DATABASE_URL": databases.template,
                "JIESU_GATEWAY_PORT": str(free_port()),
                "JIESU_JWT_SECRET": JWT_SECRET,
                "JIESU_OUTBOX_POLL_SECONDS": "0.2",
                "JIESU_LOG_JSON": "true",
                "JIESU_METRICS_PORT": "0",
                "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
                "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0",
                **{key: str(value) for key, value in env.items()},
            }
            log_dir = Path(tmp_path_factory.mktemp("logs"))
            running = System(environment, layout=layout, log_dir=log_dir)
            try:
                running.start()
                running.wait_ready(timeout=90)
                yield RunningSystem(running, databases)
            finally:
                running.stop()
    return system
