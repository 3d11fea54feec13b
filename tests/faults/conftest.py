from __future__ import annotations

import pytest

from tests.brokers import PrivateRabbit, available


@pytest.fixture
def private_rabbit(tmp_path):
    """A RabbitMQ node of this test's own (tests/brokers.py), which it may stop and
    start; the shared broker is never touched."""
    why_not = available()
    if why_not:
        pytest.fail(f"a private RabbitMQ node cannot be started here: {why_not}")
    rabbit = PrivateRabbit(tmp_path / "rabbit", management=True)
    try:
        yield rabbit.start()
    finally:
        rabbit.stop()
