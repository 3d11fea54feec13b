"""The case's life (R15) and the regulation's rules on it (R4, R6, R8, R9), as pure code.

    received ─screen_out→ screened_out
    received ─assign→ assigned ─sign_for→ signed ─start→ in_progress ─reply→ replied
    assigned ─return_case→ returned ─assign→ assigned          (退单, re-dispatched by the office)
    replied ─close→ closed                                        (满意 / 基本满意)
    replied ─order_redo→ redo ─assign→ assigned … replied         (不满意 once: 发回重办)
    replied ─supervise→ supervised ─instruct→ (批示) ─assign→ …   (不满意 again: 督办)

Which of close / order_redo / supervise follows a rating is the rating service's decision
(services/rating/domain.py); applying it is intake's.

`Case` holds what the rules need; `Case.apply(action, …)` checks the state and the rules and
returns the new state or raises `Refused` (the gateway answers 409) without changing anything.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.common.contracts import FIRST_ROUND, REDO_ROUND, SUPERVISED_ROUND, Status
from services.common.vocabulary import COMMUNICATION_KINDS, OUTCOMES


# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "screen_out": (frozenset({Status.RECEIVED, Status.ASSIGNED, Status.RETURNED}),
                   Status.SCREENED_OUT),
    "assign": (frozenset({Status.RECEIVED, Status.RETURNED, Status.REDO, Status.SUPERVISED}),
               Status.ASSIGNED),
    "return_case": (frozenset({Status.ASSIGNED, Status.SIGNED}), Status.RETURNED),
    "sign_for": (frozenset({Status.ASSIGNED}), Status.SIGNED),
    "start": (frozenset({Status.SIGNED}), Status.IN_PROGRESS),
    "reply": (frozenset({Status.SIGNED, Status.IN_PROGRESS}), Status.REPLIED),
    "close": (frozenset({Status.REPLIED}), Status.CLOSED),
    "order_redo": (frozenset({Status.REPLIED}), Status.REDO),
    "supervise": (frozenset({Status.REPLIED}), Status.SUPERVISED),
    "merge": (frozenset({Status.RECEIVED, Status.ASSIGNED, Status.RETURNED, Status.SIGNED,
                         Status.IN_PROGRESS}), Status.MERGED),
}

ACTION_LABELS = {"screen_out": "不予受理并告知", "assign": "派单", "return_case": "退单",
                 "sign_for": "签收", "start": "开始办理", "reply": "答复", "close": "办结",
                 "order_redo": "发回重办", "supervise": "纳入督办", "merge": "合并重复件",
                 "instruct": "领导批示", "communicate": "沟通记录", "dispatch": "申请派单",
                 "classify": "留言分类"}

# Reply outcomes (R6: solved, or explained as not solvable under current policy) and the
# ways of talking to the complainant: services/common/vocabulary.py.



class Refused(Exception):
    """The action is not allowed in the case's state or breaks a rule; nothing changed."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Communication:
    kind: str          # phone | face_to_face
    at: datetime
    round: int


@dataclass(frozen=True)
class Case:
    status: str
    round: int = FIRST_ROUND
    unit_id: str | None = None
    lead_unit_id: str | None = None       # 首接首办: the first unit that received it
    disputed: bool = False
    first_due_at: datetime | None = None
    communications: tuple[Communication, ...] = ()
    instructed: bool = False              # the leader's 批示 for this round of 督办
    merged_into: str | None = None
    has_timetable: bool = False           # R7: a long-term matter's timetable is set

    def can(self, action: str) -> bool:
        sources, _ = TRANSITIONS[action]
        return self.status in sources

    def apply(self, action: str, *, now: datetime, unit_id: str | None = None,
              outcome: str | None = None) -> "Case":
        """The case after `action`, or Refused. The rules of the regulation live here."""
        if action not in TRANSITIONS:
            raise Refused("unknown_action", f"未知操作 {action}")
        sources, target = TRANSITIONS[action]
        if self.status not in sources:
            raise Refused("illegal_transition",
                          f"当前状态“{Status.LABELS[self.status]}”不能{ACTION_LABELS[action]}"
                          f" (cannot {action} a case that is {self.status})")
        check = getattr(self, f"_check_{action}", None)
        if check:
            check(now=now, unit_id=unit_id, outcome=outcome)
        changes = {"status": target}
        if action == "assign":
            changes.update(self._assignment(unit_id))
        elif action == "order_redo":
            changes["round"] = REDO_ROUND
        elif action == "supervise":
            changes.update(round=SUPERVISED_ROUND, instructed=False)
        return replace(self, **changes)

    # ----------------------------------------------------------------------- the rules
    def _assignment(self, unit_id):
        if not unit_id:
            raise Refused("unit_required", "派单须指定承办单位 (a unit is required)")
        changes = {"unit_id": unit_id}
        if self.lead_unit_id is None:
            changes["lead_unit_id"] = unit_id  # 首接首办: the first receiver leads for good
        return changes

    def _check_assign(self, **_):
        if self.status == Status.SUPERVISED and not self.instructed:
            raise Refused("instruction_required",
                          "督办件须先由分管校领导批示 (the supervising leader instructs first)")

    def _check_return_case(self, **_):
        # R8 首接首办、一管到底: the lead unit of a disputed case keeps it.
        if self.disputed and self.unit_id == self.lead_unit_id:
            raise Refused("lead_unit_cannot_return",
                          "职责交叉或有争议的诉求由首接单位主办,不能退单 "
                          "(the first receiving unit leads a disputed case and cannot return it)")

    def _check_reply(self, now, outcome, **_):
        if outcome not in OUTCOMES:
            raise Refused("outcome_required", f"答复须说明办理结果,可选:{', '.join(OUTCOMES)}")
        # R7: what cannot be solved soon is answered with a timetable and staged feedback.
        if outcome == "long_term" and not self.has_timetable:
            raise Refused("timetable_required",
                          "长期解决的诉求须先制定时间表 (set a timetable before this reply)")
        this_round = [c for c in self.communications if c.round == self.round]
        # R6 见面沟通: what cannot be solved under current policy is explained face to face.
        if outcome == "policy_unsolvable" and not any(c.kind == "face_to_face"
                                                      for c in this_round):
            raise Refused("face_to_face_required",
                          "政策范围内不能解决的诉求须先见面沟通并记录 "
                          "(record a face-to-face meeting before this reply)")
        # R6 电话沟通: a case that ran past its first deadline is followed up by phone.
        if self.first_due_at is not None and now > self.first_due_at and \
                not any(c.kind == "phone" for c in self.communications):
            raise Refused("phone_call_required",
                          "已超过首次办理时限,答复前须电话沟通并记录 "
                          "(past its first deadline: record a phone call before replying)")

    def record_communication(self, kind: str, at: datetime) -> "Case":
        if kind not in COMMUNICATION_KINDS:
            raise Refused("unknown_communication", f"沟通方式须为:{', '.join(COMMUNICATION_KINDS)}")
        if self.status not in (Status.SIGNED, Status.IN_PROGRESS, Status.ASSIGNED):
            raise Refused("illegal_transition",
                          f"当前状态“{Status.LABELS[self.status]}”不能记录沟通")
        status = Status.IN_PROGRESS if self.status == Status.SIGNED else self.status
        return replace(self, status=status,
                       communications=self.communications + (Communication(kind, at, self.round),))

    def instruct(self) -> "Case":
        if self.status != Status.SUPERVISED:
            raise Refused("illegal_transition", "只有督办件可以批示 (only supervised cases)")
        if self.instructed:
            raise Refused("already_instructed",
                          "本轮督办已批示,正在重新办理 (already instructed for this round)")
        return replace(self, instructed=True)
