"""Intake's rules, free of nameko and SQLAlchemy: numbering, the skeleton of the case's
states, and the wording of its timeline."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.common.contracts import CATEGORIES, GRADES

CHANNEL_LABELS = {"app": "智慧山工院APP", "wechat": "微信公众号", "hotline": "24小时热线",
                  "open311": "Open311"}


class Status:
    RECEIVED = "received"
    ASSIGNED = "assigned"

    LABELS = {RECEIVED: "已受理", ASSIGNED: "已派单"}


class IllegalTransition(Exception):
    pass


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def complaint_number(prefix: str, day: date, sequence: int) -> str:
    """JS-20261124-0007: the day the case arrived (local time) and its place in that day."""
    return f"{prefix}-{day:%Y%m%d}-{sequence:04d}"


def status_after_assignment(current: str) -> str:
    # Routing may re-send an assignment (a retry): it lands on an assigned case unchanged.
    if current not in (Status.RECEIVED, Status.ASSIGNED):
        raise IllegalTransition(f"cannot assign a case that is {current}")
    return Status.ASSIGNED


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
