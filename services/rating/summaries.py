"""周汇总 / 月总结 (issue 12 §3, R12) as pure code: which summary is due at a moment, the periods
and their labels, the summary's content from the gathered inputs, and its markdown.

No I/O and no clock: the rating service (summaries_entrypoints.py) gathers the inputs from
its projection (`case_facts`, the assessment) and hands them here; tests build them by hand.

- **Periods.** A week is an ISO week, Monday 00:00 to the next Monday 00:00 local time,
  labelled "2026-W48"; a month a calendar month, "2026-11" (the 三率 of a monthly summary are
  the assessment's own period of that label, cut-off day and frozen snapshot included).
- **Schedule.** A week's summary is due the Monday after it at 08:30; a month's on the
  first working day of the next month (the working calendar: holidays and 调休 count) at
  08:30, both in the calendar's zone. `due_at(now)` answers the latest period of each kind
  whose time has come: a replica that was down at 08:30 catches up when it is back, and the
  unique (kind, period) row decides which replica generates it (exactly once).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from services.common.contracts import CATEGORIES, CHANNELS, Status
from services.common.privacy import mask_phones

KINDS = ("weekly", "monthly")
KIND_LABELS = {"weekly": "周汇总", "monthly": "月总结"}
RUN_AT = time(8, 30)
# 催办: open items whose next target falls within this much working time.
DUE_SOON = timedelta(hours=24)
# 调度会: an open case older than this many working days is brought to the meeting.
LONG_OPEN_WORKING_DAYS = 3
# The group post names at most this many items per list (the page and the xlsx have all).
DIGEST_ITEMS = 5
CHANNEL_LABELS = {"app": "校园APP", "wechat": "微信公众号", "hotline": "24小时热线",
                  "open311": "第三方应用", "staff": "单位发现"}
MEETING_LISTS = {"redone": "发回重办", "supervised": "督办", "returned": "多次退单",
                 "long_open": "超过3个工作日未办结", "disputed": "争议件"}

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A kind or period label that does not name a summary period."""


# ====================================================================== periods
@dataclass(frozen=True)
class SummaryPeriod:
    """A summary's period: its days [first, last] in local time and its bounds [start, end)
    as aware UTC moments."""
    kind: str
    label: str
    first: date
    last: date
    tz: str = "Asia/Shanghai"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), self.zone).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0),
                                self.zone).astimezone(timezone.utc)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def previous(self) -> "SummaryPeriod":
        return period_containing(self.kind, self.first - timedelta(days=1), self.tz)

    def next(self) -> "SummaryPeriod":
        return period_containing(self.kind, self.last + timedelta(days=1), self.tz)

    def title(self) -> str:
        if self.kind == "weekly":
            year, week = _WEEK.match(self.label).groups()
            return (f"{year}年第{int(week)}周接诉即办{KIND_LABELS['weekly']}"
                    f"({self.first:%m-%d}至{self.last:%m-%d})")
        return f"{self.first.year}年{self.first.month}月接诉即办{KIND_LABELS['monthly']}"


def week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_containing(kind: str, day: date, tz: str = "Asia/Shanghai") -> SummaryPeriod:
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return SummaryPeriod(kind, week_label(monday), monday, monday + timedelta(days=6), tz)
    if kind == "monthly":
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        return SummaryPeriod(kind, month_label(first), first, after - timedelta(days=1), tz)
    raise PeriodError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")


def summary_period(kind: str, label: str, tz: str = "Asia/Shanghai") -> SummaryPeriod:
    """The period a (kind, label) pair names; PeriodError says what is wrong."""
    if kind not in KINDS:
        raise PeriodError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(label, str):
        raise PeriodError("period must be a string")
    if kind == "weekly":
        match = _WEEK.match(label)
        if not match:
            raise PeriodError(f"a weekly period is an ISO week, YYYY-Www (2026-W48), "
                              f"not {label!r}")
        try:
            monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:
            raise PeriodError(f"{label} is not a week of its year") from None
        return period_containing(kind, monday, tz)
    match = _MONTH.match(label)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise PeriodError(f"a monthly period is YYYY-MM (2026-11), not {label!r}")
    return period_containing(kind, date(int(match.group(1)), int(match.group(2)), 1), tz)


# ====================================================================== the schedule
def run_time(period: SummaryPeriod, calendar) -> datetime:
    """When the summary of `period` is due: the Monday after a week at 08:30; the first working
    day after a month at 08:30 (the calendar's zone)."""
    after = period.last + timedelta(days=1)
    if period.kind == "monthly" and not calendar.is_working_day(after):
        after = calendar.next_working_day(after)
    return datetime.combine(after, RUN_AT, calendar.zone)


def due_at(now: datetime, calendar) -> list[SummaryPeriod]:
    """The latest period of each kind whose summary is due at `now` (whether or not it was
    made already: the caller's unique row answers that)."""
    today = calendar.local(now).date()
    due = []
    for kind in KINDS:
        period = period_containing(kind, today, calendar.tz).previous()
        if now < run_time(period, calendar):
            period = period.previous()
        due.append(period)
    return due


def not_finished(period: SummaryPeriod, now: datetime) -> bool:
    """A period that has not ended yet cannot be summed up."""
    return now < period.end


# ====================================================================== the content
def change(now: int, before: int) -> dict:
    """环比: the count, the previous period's, the difference and the ratio (None from 0)."""
    return {"count": now, "previous": before, "change": now - before,
            "ratio": round((now - before) / before, 4) if before else None}


def _breakdown(now: dict, before: dict, keys, labels: dict) -> list[dict]:
    seen = [k for k in keys if now.get(k) or before.get(k)]
    seen += sorted(k for k in set(now) | set(before) if k not in seen and k)
    return [{"code": key, "label": labels.get(key, key), **change(now.get(key, 0),
                                                                  before.get(key, 0))}
            for key in seen]


def _item(case: dict) -> dict:
    """A case as a summary lists it: no complainant, titles with phones masked (X5)."""
    return {"complaint_id": case.get("complaint_id"), "number": case.get("number"),
            "title": mask_phones(case.get("title") or ""),
            "category": case.get("category"),
            "unit_id": case.get("unit_id"), "unit_name": case.get("unit_name"),
            "handler_name": case.get("handler_name"), "status": case.get("status"),
            "due_at": _iso(case.get("due_at")),
            "received_at": _iso(case.get("received_at"))}


def _iso(moment) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def _by_unit(cases: list[dict]) -> dict:
    units: dict[str, dict] = {}
    for case in cases:
        key = case.get("unit_id") or ""
        unit = units.setdefault(key, {"unit_id": case.get("unit_id"),
                                      "unit_name": case.get("unit_name") or "未派单",
                                      "count": 0, "items": []})
        unit["count"] += 1
        unit["items"].append(_item(case))
    ordered = sorted(units.values(), key=lambda u: (-u["count"], u["unit_id"] or ""))
    return {"total": len(cases), "by_unit": ordered}


def honour_rolls(rows: list[dict], red_size: int, black_size: int) -> tuple[list, list]:
    """红榜 and 黑榜 of one group from its rows (rank None: not ranked): the top and bottom
    ranked units; with fewer than red + black ranked, each list holds at most half (so no
    unit is on both), as the assessment does."""
    ranked = sorted((r for r in rows if r.get("rank") is not None), key=lambda r: r["rank"])
    half = len(ranked) // 2
    if len(ranked) < red_size + black_size:
        red_size, black_size = min(red_size, half), min(black_size, half)
    red = [r["unit_name"] or r["unit_id"] for r in ranked[:red_size]]
    black = [r["unit_name"] or r["unit_id"] for r in ranked[len(ranked) - black_size:]][::-1] \
        if black_size else []
    return red, black


def assessment_part(view: dict | None, red_size: int, black_size: int) -> dict | None:
    if view is None:
        return None
    groups = {kind: [dict(row) for row in rows] for kind, rows in view["groups"].items()}
    rolls = {kind: honour_rolls(rows, red_size, black_size) for kind, rows in groups.items()}
    return {"period": view.get("period"), "basis": view.get("basis"),
            "version": view.get("version"), "frozen": view.get("frozen"),
            "groups": groups,
            "red": {kind: red for kind, (red, _black) in rolls.items()},
            "black": {kind: black for kind, (_red, black) in rolls.items()}}


@dataclass
class SummaryInputs:
    """What the service gathers for one period (module doc)."""
    received: dict                  # {"total", "by_channel", "by_category"}
    previous_received: dict
    closed: int
    previous_closed: int
    assessment: dict | None         # assessment_view's shape, or None when nothing is rated
    overdue: list                   # open cases past a target (预警)
    due_soon: list                  # open cases whose target is within 24 working hours (催办)
    supervised: list                # supervised cases open now or closed in the period
    hot_topics: list                # [{"keyword", "count", "mom": {...}}]
    meeting: dict                   # MEETING_LISTS key -> cases
    per_day: list                   # [(date, category, count)] for the chart
    generated_at: datetime | None = None


def build_content(period: SummaryPeriod, inputs: SummaryInputs, *, red_size: int = 3,
                  black_size: int = 3) -> dict:
    """The summary as JSON (the API's `content`)."""
    received, before = inputs.received, inputs.previous_received
    supervised = [dict(_item(case), leader_id=case.get("leader_id"),
                       instructed=bool(case.get("instructed")),
                       instruction=("已批示" if case.get("instructed") else "待批示"))
                  for case in inputs.supervised]
    return {
        "kind": period.kind, "period": period.label, "title": period.title(),
        "from": period.start.isoformat(), "to": period.end.isoformat(),
        "previous_period": period.previous().label,
        "received": {
            **change(received.get("total", 0), before.get("total", 0)),
            "by_channel": _breakdown(received.get("by_channel", {}),
                                     before.get("by_channel", {}), CHANNELS, CHANNEL_LABELS),
            "by_category": _breakdown(received.get("by_category", {}),
                                      before.get("by_category", {}), CATEGORIES, CATEGORIES)},
        "closed": change(inputs.closed, inputs.previous_closed),
        "assessment": assessment_part(inputs.assessment, red_size, black_size),
        "overdue": _by_unit(inputs.overdue),
        "due_soon": _by_unit(inputs.due_soon),
        "supervised": supervised,
        "hot_topics": [{"keyword": t["keyword"], "count": t["count"],
                        "mom": t.get("mom")} for t in inputs.hot_topics],
        "meeting": {key: [_item(case) for case in inputs.meeting.get(key, [])]
                    for key in MEETING_LISTS},
    }


# ====================================================================== markdown
def _ratio(part: dict) -> str:
    if part["ratio"] is None:
        return "环比:上期为0" if part["count"] else "环比:持平"
    sign = "+" if part["ratio"] > 0 else ""
    return f"环比{sign}{part['ratio'] * 100:.1f}%"


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _case_line(item: dict, extra: str = "") -> str:
    who = "、".join(p for p in (item.get("unit_name"), item.get("handler_name")) if p)
    return f"- {item.get('number') or '-'} {item.get('title') or ''}({who or '未派单'}){extra}"


def _capped(lines: list[str], cap: int | None) -> list[str]:
    if cap is None or len(lines) <= cap:
        return lines
    return lines[:cap] + [f"- ……另有 {len(lines) - cap} 件,见全文"]


def render_markdown(content: dict, *, digest: bool = False, links: dict | None = None) -> str:
    """The summary as markdown (WeCom's and DingTalk's subset: headings, bold, lists, links).
    `digest`: the work-group post, at most DIGEST_ITEMS items per list; the page has all."""
    cap = DIGEST_ITEMS if digest else None
    out = [f"## {content['title']}"]
    received, closed = content["received"], content["closed"]
    out.append(f"**受理** {received['count']} 件({_ratio(received)}),"
               f"**办结** {closed['count']} 件({_ratio(closed)})")
    if received["by_channel"]:
        out.append("渠道:" + ";".join(f"{r['label']} {r['count']}({_ratio(r)})"
                                        for r in received["by_channel"]))
    if received["by_category"]:
        rows = received["by_category"] if not digest else sorted(
            received["by_category"], key=lambda r: -r["count"])[:DIGEST_ITEMS]
        out.append("类别:" + ";".join(f"{r['label']} {r['count']}({_ratio(r)})" for r in rows))
    assessment = content.get("assessment")
    if assessment:
        out.append(f"### 三率与综合得分({'考核口径' if assessment['basis'] == 'assessment' else '全口径'})")
        for kind, label in (("department", "职能部门"), ("college", "二级学院")):
            rows = assessment["groups"].get(kind) or []
            if not rows:
                continue
            red, black = assessment["red"].get(kind) or [], assessment["black"].get(kind) or []
            out.append(f"**{label}** 红榜:{'、'.join(red) or '—'};黑榜:{'、'.join(black) or '—'}")
            if not digest:
                for row in sorted(rows, key=lambda r: (r.get("rank") is None, r.get("rank") or 0)):
                    out.append(f"- {row.get('rank') or '未排名'} {row.get('unit_name') or row['unit_id']}"
                               f":响应率 {_pct(row.get('response_rate'))},解决率 "
                               f"{_pct(row.get('resolution_rate'))},满意率 "
                               f"{_pct(row.get('satisfaction_rate'))},得分 "
                               f"{'—' if row.get('score') is None else row['score']}"
                               f"(有效回访 {row.get('rated', 0)})")
    for key, label in (("overdue", "预警:已超期"), ("due_soon", "催办:24个工作小时内到期")):
        part = content[key]
        out.append(f"### {label} {part['total']} 件")
        lines = []
        for unit in part["by_unit"]:
            for item in unit["items"]:
                lines.append(_case_line(item, f",时限 {_short(item.get('due_at'))}"
                                        if item.get("due_at") else ""))
        out += _capped(lines, cap)
    if content["supervised"]:
        out.append(f"### 督办 {len(content['supervised'])} 件")
        out += _capped([_case_line(item, f",{item['instruction']}")
                        for item in content["supervised"]], cap)
    if content["hot_topics"]:
        out.append("### 热点")
        out.append("、".join(f"{t['keyword']}({t['count']})"
                            for t in content["hot_topics"][:10]))
    meeting = content["meeting"]
    if any(meeting.values()):
        out.append("### 调度会材料")
        for key, label in MEETING_LISTS.items():
            if meeting.get(key):
                out.append(f"**{label}** {len(meeting[key])} 件")
                out += _capped([_case_line(item) for item in meeting[key]],
                               cap if cap is None else min(cap, 3))
    if links:
        out.append(f"[查看全文]({links['page']}) · [下载 xlsx]({links['xlsx']})")
    return "\n".join(out) + "\n"


def _short(moment: str | None) -> str:
    if not moment:
        return ""
    parsed = datetime.fromisoformat(moment)
    return f"{parsed.astimezone(ZoneInfo('Asia/Shanghai')):%m-%d %H:%M}"


# ====================================================================== which cases
def is_open(case: dict) -> bool:
    return case.get("status") in Status.OPEN
