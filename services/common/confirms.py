"""Publishing a batch of events with one wait for the broker's confirms (issue 14).

nameko's Publisher waits for the confirm of each message before it sends the next: one round
trip to RabbitMQ per event, and a wake-up of the relay's greenthread for each. The relay
publishes what one transaction left in the outbox, often several events, and many
transactions' rows per pass under load. Here a batch is sent on one channel in confirm mode
and the confirms are awaited once: RabbitMQ confirms a message once it has it (for a
persistent message routed to durable queues, once it is written), and acknowledges several
with one `multiple` ack. A message published with `mandatory` that no queue is bound for
comes back (basic.return) before its ack, so the caller learns which rows stay in the
outbox, as with nameko's UndeliverableMessage.

Nothing of the outbox's guarantee changes: rows are marked sent only for messages the broker
confirmed; a failure or time-out leaves the whole batch unsent, to be published again (the
consumers' inbox drops what they have seen).
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field

from kombu import Connection, Exchange

log = logging.getLogger("jiesu.confirms")

PERSISTENT = 2
NO_ROUTE = 312


class ConfirmTimeout(Exception):
    """The broker did not confirm the batch in time: nothing of it counts as published."""


@dataclass
class Outgoing:
    key: object              # the caller's id for the message (an outbox row's id)
    routing_key: str
    body: str
    headers: dict = field(default_factory=dict)


@dataclass
class BatchResult:
    confirmed: list = field(default_factory=list)     # keys the broker has
    unroutable: list = field(default_factory=list)    # keys no queue was bound for
    nacked: list = field(default_factory=list)        # keys the broker refused


class BatchPublisher:
    """One connection and one confirm-mode channel, opened when first needed and opened
    again after any failure."""

    def __init__(self, amqp_uri: str, exchange: Exchange, confirm_timeout: float = 30.0):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.confirm_timeout = confirm_timeout
        self._connection = None
        self._channel = None
        self._next_tag = 1
        self._pending: dict[int, object] = {}
        self._returned: set = set()
        self._result: BatchResult | None = None

    # ------------------------------------------------------------------ the channel
    def _open(self):
        connection = Connection(self.amqp_uri, transport_options={"confirm_publish": False})
        connection.connect()
        channel = connection.channel()
        self.exchange(channel).declare()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self._connection, self._channel, self._next_tag = connection, channel, 1

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:   # closing what already failed
                pass

    # ----------------------------------------------------------------- the callbacks
    def _settle(self, delivery_tag: int, multiple: bool, into: str) -> None:
        tags = [t for t in self._pending if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            key = self._pending.pop(tag, None)
            if key is None:
                continue
            if into == "confirmed" and key in self._returned:
                into_list = self._result.unroutable
            else:
                into_list = getattr(self._result, into)
            into_list.append(key)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, "confirmed")

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, "nacked")

    def _on_return(self, exception, exchange, routing_key, message):
        # The returned message names its row in message_id (set on publishing below).
        self._returned.add(message.properties.get("message_id"))

    # --------------------------------------------------------------------- publishing
    def publish(self, batch: list[Outgoing]) -> BatchResult:
        """Send every message of `batch`, then wait once for all their confirms."""
        if not batch:
            return BatchResult()
        if self._channel is None:
            self._open()
        self._pending, self._returned = {}, set()
        self._result = BatchResult()
        try:
            for outgoing in batch:
                message = self._channel.prepare_message(
                    outgoing.body, content_type="application/json",
                    content_encoding="utf-8", headers=outgoing.headers,
                    properties={"delivery_mode": PERSISTENT,
                                "message_id": str(outgoing.key)})
                self._channel.basic_publish(message, exchange=self.exchange.name,
                                            routing_key=outgoing.routing_key, mandatory=True)
                self._pending[self._next_tag] = str(outgoing.key)
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_timeout
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConfirmTimeout(f"{len(self._pending)} of {len(batch)} messages "
                                         f"not confirmed within {self.confirm_timeout} s")
                try:
                    self._connection.drain_events(timeout=remaining)
                except socket.timeout:
                    continue
        except Exception:
            self.close()   # a channel in an unknown state is not used again
            raise
        keys = {str(outgoing.key): outgoing.key for outgoing in batch}
        result = self._result
        return BatchResult([keys[k] for k in result.confirmed],
                           [keys[k] for k in result.unroutable],
                           [keys[k] for k in result.nacked])
