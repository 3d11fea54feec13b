"""The two ways services talk, made safe:

`event_handler`: nameko's, except that a handler which raises does not drop its event. Nameko
acks a message whatever the worker did (or, with requeue_on_error, puts it straight back at the
head of the queue, which spins). Here a failed event goes to a retry queue whose TTL
dead-letters it back to the handler's queue after a delay (1 s, 10 s, 60 s by default); after
the last retry it is parked in `<queue>.parked` for a person to look at. An event that breaks
its contract is parked at once: retrying cannot fix it.

`rpc_proxy`: nameko's service-to-service RPC waits forever for a reply; this one gives up
after `rpc_timeout_seconds` with RpcTimeout.

`ride_out_broker_restarts` (applied on import, so in every service process and every test
container): a RabbitMQ restart does not stop a service; see its docstring.
"""
from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager

import amqp.exceptions
import eventlet
from kombu import Queue
from kombu.exceptions import OperationalError
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler
from nameko.exceptions import deserialize_to_instance
from nameko.messaging import QueueConsumer
from nameko.rpc import RpcConsumer, RpcProxy

from services.common import metrics
from services.common.contracts import ContractError
from services.common.settings import Settings

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-jiesu-attempts"
ERROR_HEADER = "x-jiesu-error"


class ReliableEventHandler(EventHandler):
    def setup(self):
        super().setup()
        settings = Settings.from_container_config(self.container.config)
        self.retry_delays = [float(d) for d in settings.consumer_retry_delays_seconds]
        name = self.queue.name
        self.retry_queues = [
            Queue(f"{name}.retry.{index + 1}", durable=True, queue_arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
            })
            for index, delay in enumerate(self.retry_delays)
        ]
        self.parked_queue = Queue(f"{name}.parked", durable=True)
        self.publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=True)

    def handle_message_processed(self, message, result=None, exc_info=None):
        service = self.container.service_name
        if (message.delivery_info or {}).get("redelivered"):
            metrics.EVENTS_REDELIVERED.labels(service, self.event_type).inc()
        if exc_info is None:
            metrics.EVENTS_CONSUMED.labels(service, self.event_type).inc()
            self.queue_consumer.ack_message(message)
            return
        try:
            self._reroute_failed(message, exc_info)
        except Exception:
            # Could not hand it on (broker trouble): give it back rather than lose it.
            log.exception("could not reroute a failed %s event; requeueing", self.event_type)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _reroute_failed(self, message, exc_info):
        exc_type, exc, _tb = exc_info
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0))
        headers = dict(message.headers or {})
        headers[ATTEMPTS_HEADER] = attempts + 1
        headers[ERROR_HEADER] = "".join(traceback.format_exception_only(exc_type, exc))[-500:]
        if isinstance(exc, ContractError) or attempts >= len(self.retry_queues):
            target = self.parked_queue
            metrics.EVENTS_PARKED.labels(self.container.service_name, self.queue.name).inc()
            log.error("parking %s event after %d attempts: %s", self.event_type, attempts + 1,
                      headers[ERROR_HEADER].strip())
        else:
            target = self.retry_queues[attempts]
            log.warning("%s handler failed (attempt %d); retrying in %ss", self.event_type,
                        attempts + 1, self.retry_delays[attempts])
        self.publisher.publish(message.payload, exchange="", routing_key=target.name,
                               headers=headers, declare=[target])


event_handler = ReliableEventHandler.decorator


@deserialize_to_instance  # a service whose own call timed out passes it on as itself (503)
class RpcTimeout(Exception):
    pass


class _TimedServiceProxy:
    def __init__(self, proxy, service: str, timeout: float):
        self._proxy = proxy
        self._service = service
        self._timeout = timeout

    def __getattr__(self, method_name):
        method = getattr(self._proxy, method_name)

        def call(*args, **kwargs):
            reply = method.call_async(*args, **kwargs)
            timeout = eventlet.Timeout(
                self._timeout,
                RpcTimeout(f"{self._service}.{method_name} gave no answer in {self._timeout}s"))
            with timeout:
                return reply.result()

        return call


class TimedRpcProxy(RpcProxy):
    def __init__(self, target_service, timeout: float | None = None, **options):
        super().__init__(target_service, **options)
        self.timeout = timeout

    def setup(self):
        super().setup()
        self.timeout = self.timeout or Settings.from_container_config(
            self.container.config).rpc_timeout_seconds

    def get_dependency(self, worker_ctx):
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                  self.timeout)


rpc_proxy = TimedRpcProxy


# ------------------------------------------------------------------ broker restarts
# What kombu and amqp raise when RabbitMQ is unreachable or a connection died: the gateway
# answers 503 for these (a dependency is down, try again) rather than 500.
BROKER_ERRORS = (OperationalError, amqp.exceptions.ConnectionError, ConnectionError)
# An ack or a reply on a connection the broker has reset fails with the socket's own error.
_DEAD_CONNECTION_ERRORS = BROKER_ERRORS + (OSError,)
# Longest wait between two attempts to reconnect a consumer (kombu's default grows to 30 s,
# so a service could idle half a minute after the broker is back).
RECONNECT_INTERVAL_MAX = 5.0


def ride_out_broker_restarts() -> None:
    """Make nameko 2.14 survive a RabbitMQ restart (nameko #511 fixed only half of it).

    - An ack or requeue on a connection that died under a running worker raised the socket's
      OSError (nameko catches only amqp's ConnectionError there); the error reached the
      worker thread and the container killed itself, and with it the process. The broker has
      already taken the unacked message back and delivers it again; every consumer here is
      idempotent (the inbox, the filing key), so the ack is dropped with a warning.
    - An RPC whose reply cannot be published (broker gone after the work was done) killed
      the container the same way. The reply is dropped (the caller times out and says 503);
      the request is acked if the connection still allows, so that work already committed is
      not done again.
    - Consumers reconnect every 1–5 s instead of kombu's growing 2–30 s.
    Idempotent: applying it twice changes nothing."""
    if getattr(QueueConsumer, "_jiesu_rides_out_restarts", False):
        return

    def dropping(action, verb):
        def guarded(self, message):
            try:
                action(self, message)
            except _DEAD_CONNECTION_ERRORS as exc:
                log.warning("could not %s a message, its broker connection is gone (%s); "
                            "the broker delivers it again", verb, exc)
        guarded.__name__ = action.__name__
        return guarded

    QueueConsumer.ack_message = dropping(QueueConsumer.ack_message, "ack")
    QueueConsumer.requeue_message = dropping(QueueConsumer.requeue_message, "requeue")

    send_result = RpcConsumer.handle_result

    def handle_result(self, message, result, exc_info):
        try:
            return send_result(self, message, result, exc_info)
        except _DEAD_CONNECTION_ERRORS as exc:
            log.warning("could not send the reply to %s (%s); the caller will time out",
                        message.delivery_info.get("routing_key"), exc)
            self.queue_consumer.ack_message(message)
            return result, exc_info

    RpcConsumer.handle_result = handle_result

    @contextmanager
    def establish_connection(self):
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries,
                                   interval_start=1, interval_step=1,
                                   interval_max=RECONNECT_INTERVAL_MAX)
            yield conn

    QueueConsumer.establish_connection = establish_connection
    QueueConsumer._jiesu_rides_out_restarts = True


ride_out_broker_restarts()
