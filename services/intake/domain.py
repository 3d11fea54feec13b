"""Intake's rules, free of nameko and SQLAlchemy: numbering and the wording of the timeline.
The case's states and the regulation's rules on them are in lifecycle.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.common.contracts import CATEGORIES, GRADES
from services.intake.lifecycle import ACTION_LABELS, COMMUNICATION_KINDS, OUTCOMES

KIND_LABELS = {"photo": "图片", "voice": "语音"}
LEVEL_LABELS = {"satisfied": "满意", "basically": "基本满意", "dissatisfied": "不满意"}

CHANNEL_LABELS = {"app": "智慧山工院APP", "wechat": "微信公众号", "hotline": "24小时热线",
                  "open311": "Open311", "staff": "单位主动发现"}


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
    return TimelineLine("received", f"诉求已受理,编号 {number}(来源:{CHANNEL_LABELS[channel]},"
                                    f"类别:{CATEGORIES[category]})", "system")


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
