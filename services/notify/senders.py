"""Channel senders. A sender takes a stored notification and delivers it, or raises.

Only the logging sender exists so far: WeChat template messages, app push and SMS arrive with
the channels issue, each behind this same interface and chosen by the `notify_sender` setting.
"""
from __future__ import annotations

import logging

log = logging.getLogger("jiesu.notify.sender")


class LoggingSender:
    name = "logging"

    def send(self, notification) -> None:
        log.info("notify %s %s via %s [%s]: %s", notification.recipient_role,
                 notification.recipient_id, notification.channel, notification.template,
                 notification.text)


SENDERS = {LoggingSender.name: LoggingSender}


def sender_named(name: str):
    try:
        return SENDERS[name]()
    except KeyError:
        raise ValueError(f"unknown notify_sender {name!r}; known: {', '.join(SENDERS)}") from None
