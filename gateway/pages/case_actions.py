"""Which actions the case page offers its viewer now: the services' rules, read off the case
as intake answers it (and, for extensions, the deadlines as sla answers them).

The services decide; this only spares a person forms that would surely be refused. It mirrors
services/common/access.py (may_act: only the unit that holds the case handles it, the office
screens and dispatches, the supervising leader instructs), services/intake/lifecycle.py
(TRANSITIONS and the rules on them), services/intake/case.py (a voicemail is classified
before anything else) and services/sla/domain.py (extensions, timetables). The gateway may
not import services.intake (lint-imports), so the few states are repeated here; the tests
in gateway/tests/test_case_actions.py compare them with the lifecycle's table.

A form shown may still be refused (an outcome's own rule, a deadline passed meanwhile, a
race with a colleague): the page then shows the service's reason.
"""
from __future__ import annotations

from typing import Iterable, Mapping

# The lifecycle's states an action may start from (services/intake/lifecycle.py TRANSITIONS).
FROM_STATES = {
    "sign_for": {"assigned"},
    "start": {"signed"},
    "reply": {"signed", "in_progress"},
    "return_case": {"assigned", "signed"},
    "screen_out": {"received", "assigned", "returned"},
    "dispatch": {"received", "returned", "redo", "supervised"},
    "merge": {"received", "assigned", "returned", "signed", "in_progress"},
}
# Case.record_communication: a call or meeting while the unit holds the case.
COMMUNICATE_STATES = {"assigned", "signed", "in_progress"}
# While the unit handles it the resolution clock runs (sla's current target): more time may
# be asked for and a timetable set.
HANDLING = {"assigned", "signed", "in_progress"}
ENDED = {"closed", "screened_out", "merged"}

UNIT_ACTIONS = ("sign_for", "start", "communicate", "reply", "return_case",
                "request_extension", "set_timetable", "update_milestone")
OFFICE_ACTIONS = ("screen_out", "dispatch", "classify", "link", "merge", "callback")

LABELS = {"sign_for": "签收", "start": "开始办理", "communicate": "记录沟通", "reply": "答复",
          "return_case": "退回", "request_extension": "申请延期", "set_timetable": "制定阶段计划",
          "update_milestone": "更新阶段计划", "decide_extension": "审批延期",
          "screen_out": "不予受理", "dispatch": "派单", "classify": "留言分类", "link": "关联",
          "merge": "合并", "callback": "电话回访", "instruct": "批示"}


def _roles(principal: Mapping) -> set[str]:
    return set(principal.get("roles") or ())


def holds_case(case: Mapping, principal: Mapping) -> bool:
    """access.may_act for the unit's actions: a handler or head of the unit holding it."""
    unit = principal.get("unit")
    held_by = (case.get("assigned_unit") or {}).get("id")
    return bool(_roles(principal) & {"handler", "head"}) and unit is not None and unit == held_by


def instructed_this_round(case: Mapping) -> bool:
    """The leader's 批示 came after the case was last put under supervision (the case view
    does not carry lifecycle.Case.instructed; its timeline does)."""
    instructed = False
    for line in case.get("timeline") or ():
        if line.get("kind") == "supervise":
            instructed = False
        elif line.get("kind") == "instruct":
            instructed = True
    return instructed


def pending_extensions(deadlines: Iterable[Mapping] | None) -> list[dict]:
    """The extension requests not decided yet, each with the target it would move."""
    found = []
    for target in deadlines or ():
        for extension in target.get("extensions") or ():
            if extension.get("status") == "requested":
                found.append(dict(extension, deadline_kind=target.get("kind"),
                                  unit_round=target.get("round")))
    return found


def may_decide(extension: Mapping, case: Mapping, principal: Mapping) -> bool:
    """sla decide_extension: the office, or a head of the unit; never the one who asked."""
    if extension.get("requested_by") == principal.get("id"):
        return False
    roles = _roles(principal)
    return "office" in roles or ("head" in roles and holds_case(case, principal))


def _unit_actions(case: Mapping, principal: Mapping, deadlines) -> set[str]:
    if not holds_case(case, principal):
        return set()
    status = case.get("status")
    steps = case.get("timetable") or ()
    allowed = {"update_milestone"} if any(s.get("status") == "pending" for s in steps) \
        else set()
    if case.get("category") is None:   # a voicemail: the office classifies it first
        return allowed
    for action in ("sign_for", "start", "reply", "return_case"):
        if status in FROM_STATES[action]:
            allowed.add(action)
    # R8 首接首办: the lead unit of a disputed case keeps it.
    if case.get("disputed") and principal.get("unit") == case.get("lead_unit_id"):
        allowed.discard("return_case")
    if status in COMMUNICATE_STATES:
        allowed.add("communicate")
    if status in HANDLING:
        if not any(e.get("deadline_kind") == "resolution"
                   for e in pending_extensions(deadlines)):
            allowed.add("request_extension")
        if not any(s.get("status") == "pending" for s in steps):
            allowed.add("set_timetable")
    return allowed


def _office_actions(case: Mapping) -> set[str]:
    status = case.get("status")
    if case.get("category") is None:
        return {"link"} | ({"classify"} if status not in ENDED else set())
    allowed = {"link"}
    for action in ("screen_out", "dispatch", "merge"):
        if status in FROM_STATES[action]:
            allowed.add(action)
    # A supervised case is dispatched again once its leader has written the 批示.
    if status == "supervised" and not instructed_this_round(case):
        allowed.discard("dispatch")
    if status == "replied":
        allowed.add("callback")   # rating: the phone 回访 while the rating is open
    return allowed


def allowed_actions(case: Mapping, principal_fields: Mapping,
                    deadlines: Iterable[Mapping] | None = None) -> set[str]:
    """The actions `principal_fields` (the session's principal: id, roles, unit) may take on
    `case` (intake's view of it) now. `deadlines` (sla's, when the page has them) add
    decide_extension and leave out request_extension while one is pending."""
    deadlines = list(deadlines or ())
    roles = _roles(principal_fields)
    allowed = _unit_actions(case, principal_fields, deadlines)
    if "office" in roles:
        allowed |= _office_actions(case)
    if "leader" in roles and case.get("status") == "supervised" \
            and (case.get("supervisor") or {}).get("id") == principal_fields.get("id") \
            and not instructed_this_round(case):
        allowed.add("instruct")
    if any(may_decide(e, case, principal_fields) for e in pending_extensions(deadlines)):
        allowed.add("decide_extension")
    return allowed
