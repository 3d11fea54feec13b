"""RabbitMQ restarted under load (an operator's `rabbitmqctl stop_app; sleep 3; start_app`):
every process rides it out, the gateway says 503 with Retry-After while the broker is away
and its /readyz names the broker, and every complaint that was accepted (201) reaches
deadline_set exactly once.

The system runs on a RabbitMQ node of the test's own (tests/brokers.py); the shared
broker is never touched."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter

import pytest
import requests
from kombu import Connection, Queue
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder, rpc
from nameko.standalone.rpc import ServiceRpcProxy

import services.common.bus  # noqa: F401 - what every service process imports
from tests.conftest import auth, free_metrics_base, wait_until

pytestmark = pytest.mark.e2e

RATE = 4            # filings per second from each of two clients: 8/s, as in the report
GATEWAY_OFFSET = 6  # the gateway's ops port is metrics_port + 6


class Filer(threading.Thread):
    """Files at a steady rate until stopped; remembers every answer."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.answers: list[tuple[int, dict, dict]] = []

    def run(self):
        headers = auth("s2023001")
        while not self.stopping.is_set():
            started = time.monotonic()
            body = {"category": "logistics", "pledge": True,
                    "content": f"学生公寓热水停了两天,请尽快维修 {uuid.uuid4().hex[:6]}"}
            try:
                reply = requests.post(f"{self.url}/api/v1/complaints", json=body,
                                      headers=headers, timeout=30)
                self.answers.append((reply.status_code, dict(reply.headers),
                                     _json_or_text(reply)))
            except requests.RequestException as exc:  # a refused connection is a failure too
                self.answers.append((0, {}, {"exception": repr(exc)}))
            time.sleep(max(0.0, 1 / RATE - (time.monotonic() - started)))


def _json_or_text(reply):
    try:
        return reply.json()
    except ValueError:
        return {"text": reply.text[:300]}


def _readyz(port: int):
    try:
        reply = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        return reply.status_code, reply.json()
    except (requests.RequestException, ValueError) as exc:
        return 0, {"exception": repr(exc)}


# --------------------------------------------------------------- the pieces, one by one
def test_an_ack_or_requeue_on_a_reset_connection_is_dropped(rabbit_config):
    """A worker that finishes after the broker went away acks on a dead socket. nameko
    catches only amqp's ConnectionError there, so the socket's OSError used to escape into
    the worker thread and the container (and with it the process) was killed. The broker
    has already taken the message back: the ack is simply dropped."""
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        queue = Queue("h7-ack-on-dead-connection", auto_delete=True)
        with conn.Producer() as producer:
            for n in range(2):
                producer.publish({"n": n}, routing_key=queue.name, declare=[queue])
        channel = conn.channel()
        messages = [wait_until(lambda: queue(channel).get(no_ack=False)) for _ in range(2)]
        # what a broker restart does to the socket under a connection kombu still holds
        conn.connection.sock.shutdown(socket.SHUT_RDWR)
        consumer = QueueConsumer()
        consumer.ack_message(messages[0])
        consumer.requeue_message(messages[1])


class Echo:
    name = "h7echo"

    @rpc
    def echo(self, value):
        return value


def test_an_rpc_reply_that_cannot_be_sent_does_not_kill_the_service(
        container_factory, rabbit_config, monkeypatch):
    """The broker goes away between the work and its reply: the service logs it and keeps
    running (the caller times out and gets a 503)."""
    container = container_factory(Echo, rabbit_config)
    container.start()
    real_send = Responder.send_response
    failures = []

    def send_fails_once(self, result, exc_info):
        if not failures:
            failures.append(result)
            raise OperationalError("[Errno 111] ECONNREFUSED")
        return real_send(self, result, exc_info)

    monkeypatch.setattr(Responder, "send_response", send_fails_once)
    with ServiceRpcProxy("h7echo", rabbit_config, timeout=3) as proxy:
        with pytest.raises(Exception):
            proxy.echo("lost")
        assert failures == ["lost"]
        assert not container._died.ready(), "the container was killed"
        assert proxy.echo("answered") == "answered"


def test_the_gateway_answers_503_and_names_the_broker_while_it_is_away(
        private_rabbit, start_system, databases):
    base = free_metrics_base()
    system = start_system(databases, layout=[["gateway"]], JIESU_METRICS_PORT=base,
                          JIESU_AMQP_URI=private_rabbit.amqp_uri)
    private_rabbit.stop_app()
    try:
        started = time.monotonic()
        reply = system.file()
        assert time.monotonic() - started < 30, "no answer at all while the broker is away"
        assert reply.status_code == 503, reply.text
        assert int(reply.headers["Retry-After"]) > 0
        assert reply.json()["error"]["code"] == "service_unavailable"
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            _readyz(base + GATEWAY_OFFSET)), timeout=30, message="/readyz not ready")
        assert set(body["problems"]) == {"broker"}, body
        assert "RabbitMQ" in body["problems"]["broker"], body
    finally:
        private_rabbit.start_app()
    assert system.system.dead() == []
    wait_until(lambda: _readyz(base + GATEWAY_OFFSET)[0] == 200, timeout=60,
               message="ready again once the broker is back")


# ------------------------------------------------------------------ the whole system
RESTARTS = {  # how the broker goes away and comes back
    "stop_app": (lambda rabbit: rabbit.stop_app(), lambda rabbit: rabbit.start_app()),
    "node": (lambda rabbit: rabbit.stop_node(), lambda rabbit: rabbit.start()),
}


@pytest.mark.parametrize("restart", sorted(RESTARTS))
def test_broker_restart_under_load_loses_kills_and_repeats_nothing(
        private_rabbit, start_system, databases, restart):
    stop_broker, start_broker = RESTARTS[restart]
    base = free_metrics_base()
    system = start_system(databases, JIESU_AMQP_URI=private_rabbit.amqp_uri,
                          JIESU_METRICS_PORT=base)
    gateway_ops = base + GATEWAY_OFFSET
    assert _readyz(gateway_ops)[0] == 200

    filers = [Filer(system.url), Filer(system.url)]
    for filer in filers:
        filer.start()

    def answers():
        return [answer for filer in filers for answer in filer.answers]

    def accepted_ids():
        return [body["id"] for status, _, body in answers() if status == 201]

    try:
        wait_until(lambda: len(accepted_ids()) >= 10, timeout=60, message="steady filing")
        stop_broker(private_rabbit)
        # While the broker is away: /readyz names it, and filing answers 503 + Retry-After.
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            _readyz(gateway_ops)), timeout=30, message="the gateway's /readyz says not ready")
        assert "broker" in body["problems"], body
        during = len(answers())
        wait_until(lambda: len(answers()) >= during + 3, timeout=60,
                   message="filings answered while the broker is down")
        time.sleep(3)
        start_broker(private_rabbit)
        back_at, after = time.monotonic(), len(accepted_ids())
        wait_until(lambda: len(accepted_ids()) > after, timeout=120,
                   message="filing accepted again after the restart")
        recovered = time.monotonic() - back_at
        wait_until(lambda: len(accepted_ids()) >= after + 10, timeout=120,
                   message="steady filing again after the restart")
    finally:
        for filer in filers:
            filer.stopping.set()
        for filer in filers:
            filer.join(timeout=60)

    assert system.system.dead() == [], "a process exited: " + ", ".join(system.system.dead())
    statuses = Counter(status for status, _, _ in answers())
    print(f"broker restart ({restart}): answers {dict(statuses)}; first 201 "
          f"{recovered:.1f} s after the broker was back")
    assert set(statuses) <= {201, 503}, (statuses, [
        body for status, _, body in answers() if status not in (201, 503)][:5])
    assert statuses[503] > 0, statuses  # the outage was seen, and answered as such
    for status, headers, body in answers():
        if status == 503:
            assert headers.get("Retry-After"), headers
            assert body["error"]["code"], body

    accepted = accepted_ids()
    assert len(accepted) == len(set(accepted))

    def all_at_deadline_set():
        rows = system.query("intake", "SELECT complaint_id FROM timeline "
                                      "WHERE kind = 'deadline_set'")
        return {cid for (cid,) in rows} >= set(accepted)
    wait_until(all_at_deadline_set, timeout=180,
               message="every accepted complaint reaches deadline_set")
    lines = Counter((cid, kind) for cid, kind in system.query(
        "intake", "SELECT complaint_id, kind FROM timeline"))
    for complaint_id in accepted:
        for kind in ("received", "assigned", "deadline_set"):
            assert lines[(complaint_id, kind)] == 1, (complaint_id, kind)
    deadlines = Counter(cid for (cid,) in system.query(
        "sla", "SELECT complaint_id FROM deadlines WHERE kind = 'resolution'"))
    assert all(deadlines[cid] == 1 for cid in accepted)
    # still one system: every process alive and ready once the broker is back
    assert system.system.dead() == []
    wait_until(lambda: all(_readyz(base + n)[0] == 200 for n in range(1, 7)), timeout=60,
               message="every process ready again")
