"""When the SLA speaks up about a target (R12 预警、催办, escalation), as pure code.

For a resolution target running from `starts_at` to `due_at`:

- 预警 warning, to the handler: at `warning_share` of the allowed working time, and no later
  than `warning_lead` before the deadline;
- 催办 urging, to the unit head: at `urge_head_share` of the allowed working time;
- overdue, to the handler, at the deadline itself;
- escalation up the ladder after the deadline: unit head, then the office, then the
  supervising leader, each after its own delay in working time.

A response target (签收 within a limit) is overdue at its deadline and escalates to the head.
Times are computed in working time (a warning at 75 % of a case filed on Friday evening
comes on Monday, not on Sunday), or in wall time when the limits are demo seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.calendar import WorkingCalendar

LEVELS = ("handler", "head", "office", "leader")


@dataclass(frozen=True)
class Alert:
    kind: str        # warning | urge | overdue | escalate
    level: str       # who hears of it: handler | head | office | leader
    fire_at: datetime


@dataclass(frozen=True)
class EscalationPolicy:
    warning_share: float = 0.75
    warning_lead: timedelta = timedelta(hours=1)
    urge_head_share: float = 0.9
    # After the deadline: (level, delay in working time)
    ladder: tuple[tuple[str, timedelta], ...] = (
        ("head", timedelta(hours=1)), ("office", timedelta(hours=4)),
        ("leader", timedelta(hours=8)))
    wall_clock: bool = False  # demo mode: shares and delays in plain seconds

    def plan(self, target: str, starts_at: datetime, due_at: datetime,
             calendar: WorkingCalendar) -> list[Alert]:
        if due_at <= starts_at:
            return [Alert("overdue", "handler", due_at)]
        if target == "response":
            return [Alert("overdue", "head", due_at),
                    Alert("escalate", "office", self._after(due_at, self.ladder[1][1],
                                                            calendar))]
        if target in ("milestone", "feedback"):
            # A timetable's steps (R7 长期事项): reminded before, overdue at, then the head.
            return [Alert("warning", "handler", self._before(due_at, self.warning_lead,
                                                             calendar)),
                    Alert("overdue", "handler", due_at),
                    Alert("escalate", "head", self._after(due_at, self.ladder[0][1], calendar))]
        alerts = []
        warning_at = min(self._share(starts_at, due_at, self.warning_share, calendar),
                         self._before(due_at, self.warning_lead, calendar))
        if warning_at > starts_at:
            alerts.append(Alert("warning", "handler", warning_at))
        urge_at = self._share(starts_at, due_at, self.urge_head_share, calendar)
        if warning_at < urge_at < due_at:
            alerts.append(Alert("urge", "head", urge_at))
        alerts.append(Alert("overdue", "handler", due_at))
        alerts += [Alert("escalate", level, self._after(due_at, delay, calendar))
                   for level, delay in self.ladder]
        return alerts

    # ----------------------------------------------------------------------------------
    def _share(self, start, end, share, calendar) -> datetime:
        if self.wall_clock:
            return start + (end - start) * share
        allowed = calendar.working_time_between(start, end)
        if allowed <= timedelta(0):
            return start + (end - start) * share
        return calendar.add_working_time(start, allowed * share)

    def _before(self, due_at, lead, calendar) -> datetime:
        if self.wall_clock or lead <= timedelta(0):
            return due_at - lead
        return calendar.subtract_working_time(due_at, lead)

    def _after(self, due_at, delay, calendar) -> datetime:
        if self.wall_clock:
            return due_at + delay
        return calendar.add_working_time(due_at, delay)
