"""What notify says to whom, free of any sending machinery."""
from __future__ import annotations

from dataclasses import dataclass, replace

from services.common.access import HOTLINE_PREFIX, OPEN311_PREFIX, WECHAT_PREFIX
from services.common.contracts import CATEGORIES
from services.common.privacy import mask_phones

TEMPLATES = {
    "timetable_set": "您的诉求 {number} 需要较长时间解决,承办单位已制定时间表:{steps}。",
    "milestone_feedback": "您的诉求 {number} 阶段性进展({title}):{note}",
    "sla_milestone": "【时间表提醒】诉求 {number} 的阶段目标“{title}”将于 {due} 到期。",
    "sla_warning": "【预警】诉求 {number} 将于 {due} 到期,请抓紧办理。",
    "sla_urge": "【催办】诉求 {number} 将于 {due} 到期,请督促承办人按时办结。",
    "sla_overdue": "【超期】诉求 {number} 已超过{target}({due}),请立即办理并电话沟通诉求人。",
    "sla_escalate": "【超期升级】诉求 {number} 已超过{target}({due})仍未办结,请督办。",
    "extension_requested": "【延期申请】诉求 {number} 申请延期至 {new_due}:{reason},请审批。",
    "extension_approved": "您的诉求 {number} 办理时限已延长至 {new_due},原因:{reason}。",
    "extension_refused": "诉求 {number} 的延期申请未获同意,请按原时限 {old_due} 办结。",
    "extension_granted": "诉求 {number} 的延期申请已同意,新时限 {new_due},请按时办结。",
    "complaint_screened_out": "您的诉求(编号 {number})不属于本平台受理范围。{reply}",
    "complaint_replied": "您的诉求 {number} 已由{unit}答复:{note}。请对办理结果进行评价。",
    "complaint_closed": "您的诉求 {number} 已办结,感谢您的评价与监督。",
    "complaint_redo": "您的诉求 {number} 已发回重办,我们将督促承办单位重新办理。",
    "complaint_supervised": "您的诉求 {number} 已纳入督办,由分管校领导批示办理。",
    "complaint_returned_to_office": "【接诉即办】诉求 {number} 被{unit}退单:{note},请重新派单。",
    "redo_to_office": "【接诉即办】诉求 {number} 诉求人不满意,已发回重办,请转办。",
    "supervision_to_leader": "【督办】诉求 {number}({category_label})两次不满意,请批示。",
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
    channel: str             # app | wechat | sms | open311
    template: str
    text: str
    address: str | None = None   # where the channel delivers it: an openid, a phone number


def render(template: str, **values) -> str:
    return TEMPLATES[template].format(**values)


def as_sent(message: Message) -> Message:
    """X5: a notice to staff carries no phone number whole (a reason or a note typed by a
    handler may hold one); the complainant reads theirs as it was written."""
    if message.recipient_role == "complainant":
        return message
    return replace(message, text=mask_phones(message.text))


# Where a complainant hears from us: the way they came in (hotline callers get an SMS; an
# Open311 app polls for its requests, so "open311" notices are only recorded).
REPLY_CHANNEL = {"app": "app", "wechat": "wechat", "hotline": "sms", "open311": "open311",
                 "staff": "app"}
# A channel identity says how that person came in, whatever case they are told about (the
# complainants of duplicates merged into a case came by their own channels).
_IDENTITY_CHANNEL = {WECHAT_PREFIX: "wechat", HOTLINE_PREFIX: "sms", OPEN311_PREFIX: "open311"}


def reply_channel(person_id: str, case_channel: str | None) -> str:
    for prefix, channel in _IDENTITY_CHANNEL.items():
        if str(person_id).startswith(prefix):
            return channel
    return REPLY_CHANNEL.get(case_channel or "app", "app")


def address_for(message: Message, phone_of) -> str | None:
    """Where `message` goes on its channel: a WeChat user's openid (in their id), a hotline
    caller's phone (`phone_of(person_id)`, from the cases they filed), else nothing."""
    if message.channel == "wechat":
        return message.recipient_id.removeprefix(WECHAT_PREFIX)
    if message.channel == "sms":
        return phone_of(message.recipient_id)
    return None


def acknowledgement(event: dict) -> Message:
    complainant = event["complainant"]
    return Message("complainant", complainant["id"], complainant.get("name"),
                   reply_channel(complainant["id"], event["channel"]), "complaint_acknowledged",
                   render("complaint_acknowledged", number=event["number"]))


def assignment_notice(event: dict) -> Message:
    handler = event["handler"]
    return Message("handler", handler["id"], handler.get("name"), "app",
                   "complaint_assigned_to_handler",
                   render("complaint_assigned_to_handler", number=event["number"],
                          category_label=CATEGORIES[event["category"]]))


def screening_reply(event: dict) -> Message:
    """R4: instead of the acknowledgement, the template naming the legal channel or the rules."""
    complainant = event["complainant"]
    return Message("complainant", complainant["id"], complainant.get("name"),
                   reply_channel(complainant["id"], event["channel"]), "complaint_screened_out",
                   render("complaint_screened_out", number=event["number"],
                          reply=event["screened"]["reply"]))


OFFICE = ("office", "接诉即办工作办公室")

# action -> (template for every complainant of the case, template for the office)
_ON_TRANSITION = {
    "reply": ("complaint_replied", None),
    "close": ("complaint_closed", None),
    "order_redo": ("complaint_redo", "redo_to_office"),
    "supervise": ("complaint_supervised", None),
    "screen_out": ("complaint_screened_out", None),
    "return_case": (None, "complaint_returned_to_office"),
}


def transition_messages(event: dict, rating_link=None) -> list[Message]:
    """Who hears of a step of the lifecycle, and what they are told. `rating_link(person id)`:
    the 回访 page's address for them, given in the reply's SMS (they have no app to rate in)."""
    to_complainants, to_office = _ON_TRANSITION.get(event["action"], (None, None))
    values = {"number": event["number"], "note": event.get("note") or "",
              "reply": event.get("note") or "",
              "unit": (event.get("unit") or {}).get("name") or "承办单位",
              "category_label": CATEGORIES[event["category"]]}
    messages = []
    if to_complainants:
        for person in event["complainants"]:
            channel = reply_channel(person["id"], event.get("channel"))
            text = render(to_complainants, **values)
            link = rating_link(person["id"]) if rating_link and channel == "sms" \
                and to_complainants == "complaint_replied" else None
            messages.append(Message("complainant", person["id"], person.get("name"), channel,
                                    to_complainants, f"{text}评价请点 {link}" if link else text))
    if to_office:
        messages.append(Message("office", OFFICE[0], OFFICE[1], "app", to_office,
                                render(to_office, **values)))
    return messages


def supervision_notice(event: dict) -> Message:
    leader = event["leader"]
    return Message("leader", leader["id"], leader.get("name"), "app", "supervision_to_leader",
                   render("supervision_to_leader", number=event["number"],
                          category_label=CATEGORIES[event["category"]]))


def _local(moment, tz="Asia/Shanghai") -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


TARGETS = {"resolution": "办结时限", "response": "签收时限", "milestone": "时间表节点",
           "feedback": "阶段性反馈时间"}


def sla_alert_message(event: dict) -> Message | None:
    """R12: the warning, urging, overdue and escalation notices, to the ladder's person."""
    recipient = event.get("recipient")
    if not recipient:
        return None
    template = f"sla_{event['alert']}"
    if event["target"] in ("milestone", "feedback") and event["alert"] == "warning":
        template = "sla_milestone"
    return Message(event["level"], recipient["id"], recipient.get("name"), "app", template,
                   render(template, number=event.get("number") or event["complaint_id"],
                          due=_local(event["due_at"]), target=TARGETS[event["target"]],
                          title=event.get("title") or ""))


def extension_messages(event: dict, contact) -> list[Message]:
    values = dict(number=event.get("number") or event["complaint_id"],
                  new_due=_local(event["new_due_at"]), old_due=_local(event["old_due_at"]),
                  reason=event["reason"])
    requester = event["requested_by"]
    if event["event_type"] == "extension_requested":
        head = event.get("unit_head")
        # The one who asked may not decide: a head's own request goes to the office.
        if head and head["id"] != requester["id"]:
            return [Message("head", head["id"], head.get("name"), "app",
                            "extension_requested", render("extension_requested", **values))]
        return [Message("office", OFFICE[0], OFFICE[1], "app", "extension_requested",
                        render("extension_requested", **values))]
    if event["status"] == "refused":
        return [Message("handler", requester["id"], requester.get("name"), "app",
                        "extension_refused", render("extension_refused", **values))]
    messages = [Message("handler", requester["id"], requester.get("name"), "app",
                        "extension_granted", render("extension_granted", **values))]
    if contact is not None:  # X2: the complainant sees the clock move, and why
        messages.append(Message("complainant", contact.complainant_id, contact.complainant_name,
                                reply_channel(contact.complainant_id, contact.channel),
                                "extension_approved",
                                render("extension_approved", **values)))
    return messages


def timetable_messages(event: dict, contact) -> list[Message]:
    """R7: the complainant hears the timetable and each staged feedback."""
    if contact is None:
        return []
    channel = reply_channel(contact.complainant_id, contact.channel)
    number = event.get("number") or event["complaint_id"]
    if event["event_type"] == "timetable_set":
        steps = ";".join(f"{m['title']}({_local(m['due_at'])}前)" for m in event["milestones"])
        text = render("timetable_set", number=number, steps=steps)
        template = "timetable_set"
    elif event["update"] == "feedback":
        text = render("milestone_feedback", number=number, title=event["milestone"]["title"],
                      note=event["note"])
        template = "milestone_feedback"
    else:
        return []
    return [Message("complainant", contact.complainant_id, contact.complainant_name, channel,
                    template, text)]


# ------------------------------------------------------------------ the work group (R12)
WORKGROUP = "workgroup"   # the channel, and the recipient: the office's group chat
SUMMARY_PATH = "/api/v1/staff/summaries/{id}"


def summary_links(summary_id: str, base_url: str) -> dict:
    """Where the whole summary and its workbook are (the staff API, behind the login)."""
    page = base_url.rstrip("/") + SUMMARY_PATH.format(id=summary_id)
    return {"page": page, "xlsx": page + ".xlsx"}


def summary_post(event: dict, base_url: str) -> Message:
    """The work-group post of a summary: its digest, then the links to the page and the xlsx."""
    links = summary_links(event["complaint_id"], base_url)
    text = (event["digest"].rstrip("\n")
            + f"\n\n[查看全文]({links['page']}) · [下载 xlsx]({links['xlsx']})")
    return Message(WORKGROUP, WORKGROUP, "接诉即办工作群", WORKGROUP, "summary_published", text)
