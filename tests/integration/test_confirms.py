"""The relay's batch publisher against the real broker (issue 14): a batch goes out and is
confirmed with one wait; a message no queue is bound for comes back as unroutable, the rest
of its batch is confirmed; a broker that cannot be reached publishes nothing; a publisher
whose connection broke opens a new one for the next batch."""
from __future__ import annotations

import json

import pytest
from kombu import Connection, Exchange, Queue

from services.common.confirms import BatchPublisher, Outgoing
from tests.conftest import wait_until

EXCHANGE = Exchange("confirms-test.events", type="topic", durable=True)


@pytest.fixture
def queue(rabbit_config):
    bound = Queue("confirms-probe", EXCHANGE, routing_key="bound.#", durable=True)
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        bound(conn.default_channel).declare()
    return bound


def _received(amqp_uri, queue, expect):
    got = []
    with Connection(amqp_uri) as conn:
        bound = queue(conn.default_channel)

        def fetch():
            while (message := bound.get(no_ack=True)) is not None:
                got.append((message.properties.get("message_id"), json.loads(message.body),
                            message.headers))
            return len(got) >= expect
        wait_until(fetch, message=f"{expect} messages")
    return got


def test_a_batch_is_confirmed_and_an_unroutable_message_is_told_apart(rabbit_config, queue):
    publisher = BatchPublisher(rabbit_config["AMQP_URI"], EXCHANGE)
    batch = [Outgoing(n, "bound.event" if n != 3 else "nobody.listens",
                      json.dumps({"n": n}), {"nameko.correlation_id": f"c-{n}"})
             for n in range(1, 7)]
    result = publisher.publish(batch)
    assert sorted(result.confirmed) == [1, 2, 4, 5, 6]
    assert result.unroutable == [3] and result.nacked == []
    got = _received(rabbit_config["AMQP_URI"], queue, 5)
    assert [(m, body["n"], headers["nameko.correlation_id"]) for m, body, headers in got] == \
        [(str(n), n, f"c-{n}") for n in (1, 2, 4, 5, 6)]   # in order, as published
    # the next batch on the same channel: delivery tags go on counting
    assert publisher.publish([Outgoing(7, "bound.event", "{}")]).confirmed == [7]
    publisher.close()


def test_an_unreachable_broker_publishes_nothing(rabbit_config):
    publisher = BatchPublisher("amqp://guest:guest@127.0.0.1:1/", EXCHANGE)
    with pytest.raises(Exception):
        publisher.publish([Outgoing(1, "bound.event", "{}")])


def test_a_broken_connection_is_opened_again_for_the_next_batch(rabbit_config, queue):
    publisher = BatchPublisher(rabbit_config["AMQP_URI"], EXCHANGE)
    assert publisher.publish([Outgoing(1, "bound.event", "{}")]).confirmed == [1]
    publisher._connection.collect()   # the socket goes away under the publisher
    with pytest.raises(Exception):
        publisher.publish([Outgoing(2, "bound.event", "{}")])
    assert publisher.publish([Outgoing(3, "bound.event", "{}")]).confirmed == [3]
    assert [m for m, _, _ in _received(rabbit_config["AMQP_URI"], queue, 2)] == ["1", "3"]
