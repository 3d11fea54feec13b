"""Channel senders. A sender takes a stored notification and delivers it, or raises (the
notify service then tries again later).

Each notification names its channel; `ChannelSenders` hands it to that channel's sender:
- `wechat`: template messages through WeChat's HTTP API (wechat_api.py) once
  `wechat_app_secret` and `wechat_template_id` are set, else logged;
- `sms` (hotline callers): the HTTP SMS provider (sms.py) once `sms_base_url` is set, else
  logged;
- `workgroup` (the summaries, R12): the office's WeCom or DingTalk group robot
  (workgroup.py) once `workgroup_webhook_url` is set, else logged; the post carries its
  charts (`notification.charts`, set by the service from the summary's event or its
  `workgroup_posts` row);
- anything else (`app`, staff notices, `open311`, which the app polls): the `notify_sender`
  setting's sender, `logging` by default, until the campus app's push service is connected.
"""
from __future__ import annotations

import base64
import logging

from services.common.settings import case_link_base
from services.notify.sms import HttpSmsSender, LoggingSmsSender
from services.notify.wechat_api import WeChatTemplateSender
from services.notify.workgroup import Chart, workgroup_sender

log = logging.getLogger("jiesu.notify.sender")


class LoggingSender:
    name = "logging"

    def send(self, notification) -> None:
        # X5: a complainant is not named in the logs (an anonymous one least of all); the
        # notice and the case are, which is what tracing a delivery needs.
        recipient = notification.recipient_role
        if recipient != "complainant":
            recipient = f"{recipient} {notification.recipient_id}"
        log.info("notify %s %s (complaint %s) via %s [%s]: %s", notification.id, recipient,
                 notification.complaint_id, notification.channel, notification.template,
                 notification.text)


SENDERS = {LoggingSender.name: LoggingSender}


def sender_named(name: str):
    try:
        return SENDERS[name]()
    except KeyError:
        raise ValueError(f"unknown notify_sender {name!r}; known: {', '.join(SENDERS)}") from None


class WorkgroupChannel:
    """A summary's notification to the group robot: the text, then its charts, resumable by
    the notification's id (workgroup.py)."""
    name = "workgroup"

    def __init__(self, robot):
        self.robot = robot

    def send(self, notification) -> None:
        charts = [Chart(base64.b64decode(chart["png"]), chart.get("title") or "图表")
                  for chart in getattr(notification, "charts", None) or ()]
        self.robot.post(notification.text, charts=charts, key=notification.id)


class ChannelSenders:
    """One sender per channel, and the default for the rest."""

    def __init__(self, by_channel: dict, default):
        self.by_channel = dict(by_channel)
        self.default = default

    def sender_for(self, channel: str):
        return self.by_channel.get(channel, self.default)

    def send(self, notification) -> None:
        self.sender_for(notification.channel).send(notification)

    @classmethod
    def from_settings(cls, settings) -> "ChannelSenders":
        sms = (HttpSmsSender(settings.sms_base_url, settings.sms_account, settings.sms_secret)
               if settings.sms_base_url else LoggingSmsSender())
        wechat = (WeChatTemplateSender(settings.wechat_api_base, settings.wechat_app_id,
                                       settings.wechat_app_secret, settings.wechat_template_id,
                                       case_link_base(settings) or None)
                  if settings.wechat_app_secret and settings.wechat_template_id
                  else LoggingSender())
        senders = cls({"sms": sms, "wechat": wechat,
                       "workgroup": WorkgroupChannel(workgroup_sender(settings))},
                      sender_named(settings.notify_sender))
        log.info("notify senders: %s", {channel: type(sender).__name__ for channel, sender
                                        in {**senders.by_channel, "*": senders.default}.items()})
        return senders
