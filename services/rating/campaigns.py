"""专项治理 (R14, issue 12 §5) as pure rules: a campaign's scope and what it matches, the states
it may be acted on in, and its progress (open/closed cases, 三率 inside the campaign,
milestones). No nameko, no SQLAlchemy: services/rating/analysis_entrypoints.py hands in plain
values. docs/ANALYSIS.md explains them.

Scope
    Categories, keywords, units and a window of receipt dates (Asia/Shanghai, both ends
    included). Each part given narrows the scope, an empty part does not: {"categories":
    ["logistics"], "keywords": ["热水", "澡堂"]} is every logistics case whose title or words
    contain 热水 or 澡堂. A keyword matches as a substring of the title or of a cut word, so
    热水 matches 热水器 too. A scope with nothing in it matches nothing: a campaign is about
    one problem, never "everything".

三率 inside a campaign
    Over the campaign's attached cases that closed with a rating (the final 回访), with the
    assessment's own rules (config/assessment.yaml: 基本满意's weight, the score's weights,
    rounding): a case closed as 未评价 is not an 有效回访, as in the assessment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from services.common.contracts import Status
from services.common.errors import Conflict
from services.rating.assessment import AssessmentRules, FinalRating, assess

TZ = ZoneInfo("Asia/Shanghai")
OPEN, CLOSED = "open", "closed"
STATES = (OPEN, CLOSED)
LABELS = {OPEN: "进行中", CLOSED: "已结束"}
_CAMPAIGN_UNIT = "campaign"   # the one "unit" the campaign's 三率 are computed for


@dataclass(frozen=True)
class Scope:
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None

    @classmethod
    def from_dict(cls, raw: Mapping) -> "Scope":
        def day(value):
            return date.fromisoformat(value) if isinstance(value, str) else value
        return cls(tuple(raw.get("categories") or ()), tuple(raw.get("keywords") or ()),
                   tuple(raw.get("units") or ()), day(raw.get("from")), day(raw.get("to")))

    def as_dict(self) -> dict:
        return {"categories": list(self.categories), "keywords": list(self.keywords),
                "units": list(self.units),
                "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}

    @property
    def empty(self) -> bool:
        return not (self.categories or self.keywords or self.units or self.start or self.end)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) in UTC for the receipt dates (None: open on that side)."""
        return day_bounds(self.start, self.end)

    def matches(self, *, category: str | None, unit_id: str | None, received_at: datetime,
                title: str | None, words: Iterable[str]) -> bool:
        if self.empty:
            return False
        if self.categories and category not in self.categories:
            return False
        if self.units and unit_id not in self.units:
            return False
        start, end = self.window()
        at = received_at if received_at.tzinfo else received_at.replace(tzinfo=timezone.utc)
        if (start is not None and at < start) or (end is not None and at >= end):
            return False
        if self.keywords:
            texts = [title or "", *words]
            return any(keyword in text for keyword in self.keywords for text in texts)
        return True


def day_bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Dates in Asia/Shanghai, both included, as [start, end) in UTC."""
    start = datetime.combine(first, time(), TZ).astimezone(timezone.utc) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), TZ).astimezone(timezone.utc) \
        if last else None
    return start, end


def ensure_open(status: str, campaign_id: str) -> None:
    """A closed campaign is a record: nothing is attached to it, detached or added."""
    if status != OPEN:
        raise Conflict.refusal("campaign_closed",
                               f"专项治理 {campaign_id} 已结束,不能再变更 (campaign closed)")


@dataclass(frozen=True)
class CaseState:
    """What progress needs of an attached case (from analysis_cases)."""
    complaint_id: str
    status: str | None
    counted: bool = True
    rated_level: str | None = None
    contacted: bool | None = None
    solved: bool | None = None
    rated_at: datetime | None = None
    unrated: bool = False


def progress(cases: Iterable[CaseState], rules: AssessmentRules) -> dict:
    """Open and closed cases, and 三率 over the final 回访 of the closed ones."""
    cases = list(cases)
    counted = [c for c in cases if c.counted]
    closed = [c for c in counted if c.status == Status.CLOSED]
    rated = [FinalRating(complaint_id=c.complaint_id, unit_id=_CAMPAIGN_UNIT,
                         unit_kind="other", category="", channel="",
                         contacted=bool(c.contacted), solved=bool(c.solved),
                         level=c.rated_level, rated_at=c.rated_at)
             for c in closed if c.rated_level is not None and c.rated_at is not None]
    row = assess(rated, "full", rules).row(_CAMPAIGN_UNIT) if rated else None
    figures = {"rated": 0, "contacted": 0, "solved": 0, "satisfied": 0, "basically": 0,
               "dissatisfied": 0, "response_rate": None, "resolution_rate": None,
               "satisfaction_rate": None, "score": None}
    if row is not None:
        figures.update({key: getattr(row, key) for key in figures})
    return {"cases": len(counted), "open": len(counted) - len(closed), "closed": len(closed),
            "unrated": sum(1 for c in closed if c.unrated),
            "not_counted": len(cases) - len(counted), **figures}


def milestone_summary(milestones: Iterable[Mapping], today: date) -> dict:
    """How many milestones, done, and overdue (a due date before today, not done)."""
    milestones = list(milestones)
    return {"total": len(milestones), "done": sum(1 for m in milestones if m["done"]),
            "overdue": sum(1 for m in milestones if not m["done"] and m.get("due_date")
                           and m["due_date"] < today)}
