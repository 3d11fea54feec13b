"""What notify says to whom, free of any sending machinery."""
from __future__ import annotations

from dataclasses import dataclass

from services.common.contracts import CATEGORIES

TEMPLATES = {
    "complaint_acknowledged":
        "您的诉求已受理,编号 {number}。我们将尽快直派责任单位办理,请留意办理进度。",
    "complaint_assigned_to_handler":
        "【接诉即办】新诉求 {number}({category_label})已派给您,请及时签收办理。",
}


@dataclass(frozen=True)
class Message:
    recipient_role: str      # complainant | handler | head | office | leader
    recipient_id: str
    recipient_name: str | None
    channel: str             # app | wechat | sms | robot | log
    template: str
    text: str


def render(template: str, **values) -> str:
    return TEMPLATES[template].format(**values)


# Where a complainant hears from us: the way they came in (hotline callers get an SMS).
REPLY_CHANNEL = {"app": "app", "wechat": "wechat", "hotline": "sms", "open311": "open311"}


def acknowledgement(event: dict) -> Message:
    complainant = event["complainant"]
    return Message("complainant", complainant["id"], complainant.get("name"),
                   REPLY_CHANNEL[event["channel"]], "complaint_acknowledged",
                   render("complaint_acknowledged", number=event["number"]))


def assignment_notice(event: dict) -> Message:
    handler = event["handler"]
    return Message("handler", handler["id"], handler.get("name"), "app",
                   "complaint_assigned_to_handler",
                   render("complaint_assigned_to_handler", number=event["number"],
                          category_label=CATEGORIES[event["category"]]))
