"""Intake's rules, free of nameko and SQLAlchemy: numbering and the wording of the timeline.
The case's states and the regulation's rules on them are in lifecycle.py."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.common.access import hotline_identity
from services.common.contracts import CATEGORIES, GRADES, RATING_LEVELS
from services.common.vocabulary import ATTACHMENT_KINDS, PHONE_PATTERN
from services.intake.lifecycle import ACTION_LABELS, COMMUNICATION_KINDS, OUTCOMES

KIND_LABELS = ATTACHMENT_KINDS
LEVEL_LABELS = RATING_LEVELS

CHANNEL_LABELS = {"app": "智慧山工院APP", "wechat": "微信公众号", "hotline": "24小时热线",
                  "open311": "Open311", "staff": "单位主动发现"}


UNCLASSIFIED = "unclassified"  # a voicemail the office has not classified yet (metrics label)

# R3: what every channel's filing must carry, and the refusals around classifying voicemail.
PLEDGE_REQUIRED = ("须承诺所反映情况真实准确,如有不实愿承担相应责任 "
                   "(the complainant must pledge that the complaint is true)")
CLASSIFY_FIRST = ("classify_first",
                  "热线留言须先由办公室分类 (classify this voicemail before anything else)")
ALREADY_CLASSIFIED = ("already_classified", "该诉求已有类别 (this case is already classified)")



def category_label(code: str | None) -> str:
    return CATEGORIES[code] if code else "待分类"


def reachable_phone(number: str) -> str | None:
    """A caller's number as a contact phone (mainland mobile or landline), or None when it
    is not one we can text or call back (withheld, international)."""
    digits = number.replace("-", "").replace(" ", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits if re.fullmatch(PHONE_PATTERN, digits) else None


def caller_pseudonym(number: str, key: str) -> str:
    """A hotline caller's complainant id: the same for every call from one number, and not
    the number (staff lists show ids; the number is personal data, X5)."""
    digest = hmac.new(key.encode("utf-8"), number.encode("utf-8"), hashlib.sha256).hexdigest()
    return hotline_identity(digest[:24])


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def complaint_number(prefix: str, day: date, sequence: int) -> str:
    """JS-20261124-0007: the day the case arrived (local time) and its place in that day."""
    return f"{prefix}-{day:%Y%m%d}-{sequence:04d}"


def format_local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class TimelineLine:
    kind: str
    text: str
    actor: str | None = None


def received_line(number: str, channel: str, category: str) -> TimelineLine:
    if category is None:
        return TimelineLine("received", f"热线留言已登记,编号 {number}(来源:"
                                        f"{CHANNEL_LABELS[channel]},待办公室分类)", "system")
    return TimelineLine("received", f"诉求已受理,编号 {number}(来源:{CHANNEL_LABELS[channel]},"
                                    f"类别:{CATEGORIES[category]})", "system")


UNRATED_NOTE = "未评价:答复后在评价期限内未评价,按办结处理 (not rated in time)"


def rating_note(level: str, contacted: bool | None, solved: bool | None,
                comment: str | None, called_by: str | None = None) -> str:
    """The 回访 as the timeline shows it: "评价:基本满意(已联系,未解决),还要再修一次", or,
    recorded by the office on the phone, "电话回访(李晓梅):满意(已联系,已解决)"."""
    answers = []
    if contacted is not None:
        answers.append("已联系" if contacted else "未联系")
    if solved is not None:
        answers.append("已解决" if solved else "未解决")
    how = f"电话回访({called_by})" if called_by else "评价"
    return (f"{how}:{LEVEL_LABELS[level]}" + (f"({','.join(answers)})" if answers else "")
            + (f",{comment}" if comment else ""))


def campaign_line(attached: bool, name: str, by: str | None) -> TimelineLine:
    """专项治理: the case joins (or leaves) one of the office's campaigns."""
    if attached:
        return TimelineLine("campaign_attached", f"纳入专项治理:{name}", by or "rating")
    return TimelineLine("campaign_detached", f"移出专项治理:{name}", by or "rating")


def recording_line(url: str) -> TimelineLine:
    return TimelineLine("recording", f"留言录音:{url}", "hotline")


def voicemail_line(counts_from: datetime, tz: str) -> TimelineLine:
    return TimelineLine("voicemail", f"非工作时间留言,于 {format_local(counts_from, tz)} "
                                     f"起受理办理", "system")


def assigned_line(unit_name: str, handler_name: str) -> TimelineLine:
    return TimelineLine("assigned", f"已直派 {unit_name},承办人 {handler_name}", "routing")


def deadline_line(grade: str, due_at: datetime, tz: str) -> TimelineLine:
    return TimelineLine("deadline_set",
                        f"办理时限:{GRADES[grade]},应于 {format_local(due_at, tz)} 前办结", "sla")


def transition_line(action: str, actor: str | None, note: str | None = None,
                    outcome: str | None = None) -> TimelineLine:
    """The timeline's line for a step of the lifecycle (what the complainant and staff see)."""
    text = ACTION_LABELS.get(action, action)
    if outcome:
        text += f"({OUTCOMES.get(outcome, outcome)})"
    if note:
        text += f":{note}"
    return TimelineLine(action, text, actor)


def screened_line(reply: str) -> TimelineLine:
    return TimelineLine("screen_out", f"不属于本平台受理范围,已告知:{reply}", "system")


def communication_line(kind: str, with_whom: str, summary: str, actor: str) -> TimelineLine:
    return TimelineLine("communicate", f"{COMMUNICATION_KINDS[kind]}({with_whom}):{summary}",
                        actor)


SLA_STATES = ("normal", "warning", "overdue")
ALERT_LABELS = {"warning": "预警", "urge": "催办", "overdue": "已超期", "escalate": "超期升级"}
LEVEL_TITLES = {"handler": "承办人", "head": "单位负责人", "office": "接诉即办工作办公室",
                "leader": "分管校领导"}
TARGET_LABELS = {"resolution": "办结时限", "response": "签收时限"}


def sla_state_after(current: str, alert: str) -> str:
    """The case's SLA state only gets worse until a new deadline (an extension) resets it."""
    wanted = {"warning": "warning", "urge": "warning", "overdue": "overdue",
              "escalate": "overdue"}[alert]
    return max(current or "normal", wanted, key=SLA_STATES.index)


def alert_line(event: dict) -> TimelineLine:
    who = (event.get("recipient") or {}).get("name") or LEVEL_TITLES[event["level"]]
    return TimelineLine(f"sla_{event['alert']}",
                        f"{TARGET_LABELS[event['target']]}{ALERT_LABELS[event['alert']]},"
                        f"已通知{LEVEL_TITLES[event['level']]} {who}", "sla")


def extension_line(due_at: datetime, reason: str | None, tz: str) -> TimelineLine:
    return TimelineLine("deadline_extended",
                        f"办理时限延长至 {format_local(due_at, tz)}(原因:{reason or '—'})", "sla")


def extension_request_line(event: dict, tz: str) -> TimelineLine:
    new_due = format_local(event["new_due_at"], tz)
    if event["status"] == "requested":
        return TimelineLine("extension_requested",
                            f"申请延期至 {new_due}:{event['reason']}", "sla")
    verdict = "同意" if event["status"] == "approved" else "不同意"
    note = f"({event['note']})" if event.get("note") else ""
    return TimelineLine("extension_decided", f"{verdict}延期至 {new_due}{note}", "sla")


def timetable_line(milestones: list[dict], tz: str) -> TimelineLine:
    steps = ";".join(f"{m['title']}({format_local(m['due_at'], tz)}前)" for m in milestones)
    return TimelineLine("timetable_set", f"制定办理时间表:{steps}", "sla")


def milestone_line(event: dict) -> TimelineLine:
    label = "阶段性反馈" if event["update"] == "feedback" else "阶段完成"
    return TimelineLine(f"milestone_{event['update']}",
                        f"{label}({event['milestone']['title']}):{event['note']}",
                        (event.get("by") or {}).get("name") or "sla")
