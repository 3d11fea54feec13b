"""Rating's entrypoints for the office's figures (issue 12 §2): rating's projection of the case events, the daily roll-ups, exclusions (剔除), published snapshots and the assessment read.

A mixin of RatingService (services/rating/service.py): it uses the service's `db`, `rules` and
`calendar`, and keeps its entrypoints thin (load with a schema, call a handler, dump).

Who sees what (docs/ASSESSMENT.md, "Roles"): the office and leaders every row; a unit head
their own unit's row with its rank (the other units' rows are left out; the 红榜/黑榜 are
named, as the work group is told them anyway); a handler their own unit's row without ranks.
Anyone else is told the figures do not exist (NotFound), like the rest of the staff API.
"""
from __future__ import annotations

import uuid

from nameko.rpc import rpc
from sqlalchemy import select

from services.common.access import Viewer
# One set of request schemas with the gateway's check (gateway/office_figures.py).
from services.common.analysis_inputs import (ExclusionDecisionSchema,
                                             ExclusionListQuerySchema as ExclusionFilterSchema,
                                             ExclusionRequestSchema, PeriodSchema,
                                             PublishSchema)
from services.common.errors import Conflict, InvalidInput, NotFound, load_input, load_viewer
from services.common.providers import Built, consumes
from services.rating import figures, ledger
from services.rating.assessment import period_bounds
from services.rating.figures_models import AssessmentSnapshot, CaseFact, Exclusion

UNIT_ROLES = ("head", "handler")
SEE_ALL = ("office", "leader")
LEDGER_PAGE_MAX = 1000
_NOT_FOUND = "未找到 (not found)"


def _period(label) -> str:
    """A period label, 400 naming `period` unless it is a month of 1970-2099."""
    return load_input(PeriodSchema(), {"period": label})["period"]


def _choice(value, name: str, allowed: tuple) -> str:
    if value not in allowed:
        raise InvalidInput({name: [f"须为 {' | '.join(allowed)} 之一"]})
    return value


def exclusion_dict(row: Exclusion) -> dict:
    return {"id": row.id, "complaint_id": row.complaint_id, "unit_id": row.unit_id,
            "status": row.status, "reason": row.reason, "evidence": list(row.evidence or ()),
            "requested_by": row.requested_by, "requested_by_name": row.requested_by_name,
            "requested_at": row.requested_at.isoformat(),
            "decided_by": row.decided_by, "decided_by_name": row.decided_by_name,
            "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            "note": row.note}


def visible(answer: dict, viewer: Viewer) -> dict:
    """The assessment as this viewer may read it (see the module's docstring)."""
    if viewer.has(*SEE_ALL):
        return answer
    if not (viewer.has(*UNIT_ROLES) and viewer.unit):
        raise NotFound(_NOT_FOUND)
    head = viewer.has("head")
    groups = {}
    for kind, rows in answer.get("groups", {}).items():
        mine = [row for row in rows if row["unit_id"] == viewer.unit]
        if not head:
            mine = [dict(row, rank=None, previous_rank=None, rank_change=None) for row in mine]
        groups[kind] = mine
    return dict(answer, groups=groups, red=answer["red"] if head else {},
                black=answer["black"] if head else {})


class FiguresEntrypoints:
    # The units' names and kinds (config/org.yaml, the file routing routes by).
    org_units = Built(lambda settings: figures.load_units(
        settings.resolve_path(settings.org_directory)))

    # ------------------------------------------------------------ the projection
    def _project(self, event_type: str, event: dict, uow) -> None:
        session = uow.session
        fact = session.get(CaseFact, event["complaint_id"], with_for_update=True)
        if fact is None:
            fact = ledger.blank(CaseFact(complaint_id=event["complaint_id"]))
            session.add(fact)
        calendar = self.calendar
        context = ledger.Context(
            rules=self.rules, units=self.org_units, frozen=figures.frozen_moments(session),
            now=uow.clock.now(),
            working_seconds=lambda start, end: calendar.working_time_between(
                start, end).total_seconds())
        outcome = ledger.apply(fact, event_type, event, context)
        session.flush()
        if outcome.retract:
            figures.retract(session, fact.complaint_id)
        figures.add_moves(session, fact.complaint_id, outcome.moves, not fact.excluded)

    @consumes("intake", "complaint_received")
    def figures_received(self, event, uow):
        self._project("complaint_received", event, uow)

    @consumes("routing", "complaint_assigned")
    def figures_assigned(self, event, uow):
        self._project("complaint_assigned", event, uow)

    @consumes("sla", "deadline_set")
    def figures_deadline_set(self, event, uow):
        self._project("deadline_set", event, uow)

    @consumes("intake", "complaint_transitioned")
    def figures_transitioned(self, event, uow):
        self._project("complaint_transitioned", event, uow)

    @consumes("rating", "complaint_rated")
    def figures_rated(self, event, uow):
        self._project("complaint_rated", event, uow)

    @consumes("rating", "rating_expired")
    def figures_rating_expired(self, event, uow):
        self._project("rating_expired", event, uow)

    @consumes("sla", "sla_alert", only_if=lambda event: event["alert"] == "overdue")
    def figures_overdue(self, event, uow):
        self._project("sla_alert", event, uow)

    @consumes("sla", "extension_decided")
    def figures_extension_decided(self, event, uow):
        self._project("extension_decided", event, uow)

    @consumes("routing", "supervisor_assigned")
    def figures_supervisor_assigned(self, event, uow):
        self._project("supervisor_assigned", event, uow)

    # ------------------------------------------------------------ 剔除
    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def request_exclusion(self, complaint_id, caller, request):
        """The case's unit (head or handler) asks that it leave the unit's assessment
        figures, with a reason and evidence (attachment sha256s)."""
        viewer = load_viewer(caller)
        request = load_input(ExclusionRequestSchema(), request or {})
        with self.db.unit_of_work() as uow:
            fact = uow.session.get(CaseFact, complaint_id, with_for_update=True)
            if fact is None or not (viewer.has(*UNIT_ROLES) and viewer.unit
                                    and viewer.unit == fact.unit_id):
                raise NotFound(f"complaint {complaint_id} not found")
            if fact.closed_as in ("screened_out", "merged"):
                raise Conflict.refusal("never_counted",
                                       "不予受理或已合并的诉求本就不计入考核,无需剔除")
            open_or_done = uow.session.execute(select(Exclusion).where(
                Exclusion.complaint_id == complaint_id,
                Exclusion.status.in_(("requested", "approved")))).scalars().first()
            if open_or_done is not None:
                raise Conflict.refusal(
                    "exclusion_exists", "该诉求已有待审核或已批准的剔除申请"
                    if open_or_done.status == "requested" else "该诉求已剔除")
            row = Exclusion(id=str(uuid.uuid4()), complaint_id=complaint_id,
                            unit_id=fact.unit_id, status="requested",
                            reason=request["reason"], evidence=request["evidence"],
                            requested_by=viewer.id, requested_by_name=viewer.name,
                            requested_at=uow.clock.now())
            uow.session.add(row)
            self._emit_exclusion(uow, "exclusion_requested", row, fact)
        return exclusion_dict(row)

    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def decide_exclusion(self, exclusion_id, caller, decision):
        """The office approves (the case leaves the assessment basis, not the full one) or
        refuses; once."""
        viewer = load_viewer(caller)
        decision = load_input(ExclusionDecisionSchema(), decision or {})
        if not viewer.has("office"):
            raise NotFound(_NOT_FOUND)
        with self.db.unit_of_work() as uow:
            row = uow.session.get(Exclusion, exclusion_id, with_for_update=True)
            if row is None:
                raise NotFound(f"exclusion {exclusion_id} not found")
            if row.status != "requested":
                raise Conflict.refusal("already_decided", "该剔除申请已审核")
            fact = uow.session.get(CaseFact, row.complaint_id, with_for_update=True)
            row.status = "approved" if decision["decision"] == "approve" else "refused"
            row.decided_by, row.decided_by_name = viewer.id, viewer.name
            row.decided_at, row.note = uow.clock.now(), decision["note"]
            if row.status == "approved" and fact is not None and not fact.excluded:
                fact.excluded = True
                uow.session.flush()
                figures.exclude(uow.session, row.complaint_id)
            self._emit_exclusion(uow, "exclusion_decided", row, fact)
        return exclusion_dict(row)

    def _emit_exclusion(self, uow, event_type, row: Exclusion, fact: CaseFact | None):
        unit_name = fact.unit_name if fact is not None else None
        uow.emit(event_type, row.complaint_id, number=fact.number if fact else None,
                 exclusion_id=row.id, unit={"id": row.unit_id, "name": unit_name},
                 status=row.status, reason=row.reason, evidence=list(row.evidence or ()),
                 requested_by={"id": row.requested_by, "name": row.requested_by_name},
                 decided_by=({"id": row.decided_by, "name": row.decided_by_name}
                             if row.decided_by else None),
                 note=row.note)

    @rpc(expected_exceptions=(InvalidInput, NotFound))
    def list_exclusions(self, caller, filters=None):
        """The office and leaders see every request; a unit its own."""
        viewer = load_viewer(caller)
        filters = load_input(ExclusionFilterSchema(), filters or {})
        query = select(Exclusion)
        if not viewer.has(*SEE_ALL):
            if not (viewer.has(*UNIT_ROLES) and viewer.unit):
                raise NotFound(_NOT_FOUND)
            query = query.where(Exclusion.unit_id == viewer.unit)
        for key in ("status", "unit_id", "complaint_id"):
            if filters[key]:
                query = query.where(getattr(Exclusion, key) == filters[key])
        with self.db.unit_of_work() as uow:
            rows = uow.session.execute(
                query.order_by(Exclusion.requested_at.desc(), Exclusion.id)
                .limit(filters["limit"]).offset(filters["offset"])).scalars().all()
            return [exclusion_dict(row) for row in rows]

    # ------------------------------------------------------------ figures and snapshots
    @rpc(expected_exceptions=(InvalidInput, NotFound))
    def get_assessment(self, period, basis, by, caller):
        viewer = load_viewer(caller)
        period = _period(period)
        basis = _choice(basis or "assessment", "basis", figures.BASES)
        by = _choice(by or "unit", "by", figures.BY)
        if not viewer.has(*SEE_ALL) and not (viewer.has(*UNIT_ROLES) and viewer.unit):
            raise NotFound(_NOT_FOUND)
        with self.db.unit_of_work() as uow:
            answer = figures.assessment_view(uow.session, self.rules, self.org_units, period,
                                             basis, "unit")
            if by == "category":
                unit = None if viewer.has(*SEE_ALL) else viewer.unit
                return dict(answer, by="category", groups={}, red={}, black={},
                            categories=answer_categories(uow.session, self, period, basis,
                                                         unit))
        return visible(answer, viewer)

    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def publish_assessment(self, period, caller, request=None):
        """Freeze the period's figures on both bases as a version. The same figures again:
        the same version; changed figures (a correction): version + 1, with a reason."""
        viewer = load_viewer(caller)
        period = _period(period)
        request = load_input(PublishSchema(), request or {})
        if not viewer.has("office"):
            raise NotFound(_NOT_FOUND)
        reason = (request["reason"] or "").strip() or None
        with self.db.unit_of_work() as uow:
            now = uow.clock.now()
            if period_bounds(period, self.rules).end > now:
                raise Conflict.refusal("period_not_over", "考核周期尚未结束,不能发布")
            # One publisher at a time: the period's rows are locked by whoever comes first.
            uow.session.execute(select(AssessmentSnapshot.version).where(
                AssessmentSnapshot.period == period).with_for_update()).all()
            current = {basis: figures.latest_snapshot(uow.session, period, basis)
                       for basis in figures.BASES}
            computed = {basis: figures.compute(uow.session, self.rules, self.org_units,
                                               period, basis) for basis in figures.BASES}
            changed = [basis for basis in figures.BASES
                       if current[basis] is None or current[basis].figures != computed[basis]]
            if any(current[basis] is not None for basis in changed) and not reason:
                raise InvalidInput({"reason": ["更正已发布的考核结果须说明原因"]})
            first = min((snap.first_frozen_at for snap in current.values() if snap), default=now)
            versions = {}
            for basis in figures.BASES:
                snap = current[basis]
                if basis in changed:
                    snap = AssessmentSnapshot(
                        period=period, basis=basis,
                        version=(snap.version + 1) if snap else 1, frozen_at=now,
                        first_frozen_at=first, published_by=viewer.id,
                        published_by_name=viewer.name, reason=reason, figures=computed[basis])
                    uow.session.add(snap)
                versions[basis] = dict(figures.snapshot_dict(snap), changed=basis in changed)
        return {"period": period, "versions": versions}

    @rpc(expected_exceptions=(InvalidInput, NotFound))
    def assessment_ledger(self, period, caller, after=None, limit=500):
        """One page of the period's cases (received or rated in it) for the export's ledger,
        in complaint id order after `after`; the office and leaders every case, a unit its
        own. Phones come masked; the gateway hides anonymous complainants."""
        viewer = load_viewer(caller)
        period = _period(period)
        if not isinstance(limit, int) or not 1 <= limit <= LEDGER_PAGE_MAX:
            raise InvalidInput({"limit": [f"1–{LEDGER_PAGE_MAX}"]})
        if not viewer.has(*SEE_ALL, *UNIT_ROLES) or (
                not viewer.has(*SEE_ALL) and not viewer.unit):
            raise NotFound(_NOT_FOUND)
        bounds = period_bounds(period, self.rules)
        query = select(CaseFact).where(
            ((CaseFact.received_at >= bounds.start) & (CaseFact.received_at < bounds.end))
            | ((CaseFact.rated_at >= bounds.start) & (CaseFact.rated_at < bounds.end)))
        if not viewer.has(*SEE_ALL):
            query = query.where(CaseFact.unit_id == viewer.unit)
        if after:
            query = query.where(CaseFact.complaint_id > str(after))
        with self.db.unit_of_work() as uow:
            rows = uow.session.execute(query.order_by(CaseFact.complaint_id)
                                       .limit(limit)).scalars().all()
            return [ledger_row(row) for row in rows]


def answer_categories(session, service, period, basis, unit_id):
    """by=category: the same figures per category (a unit's own cases for a unit)."""
    snapshot = figures.latest_snapshot(session, period, basis) if unit_id is None else None
    if snapshot is not None:
        return snapshot.figures["category"]
    return figures.category_rows(session, service.rules, period, basis, unit_id)


def ledger_row(fact: CaseFact) -> dict:
    def when(value):
        return value.isoformat() if value else None
    return {"complaint_id": fact.complaint_id, "number": fact.number,
            "received_at": when(fact.received_at), "channel": fact.channel,
            "category": fact.category, "unit_id": fact.unit_id, "unit_name": fact.unit_name,
            "status": fact.status, "anonymous": bool(fact.anonymous),
            "complainant_name": fact.complainant_name, "complainant_id": fact.complainant_id,
            "contact_phone": fact.contact_phone_masked, "title": fact.title,
            "content": fact.content, "reply": fact.reply, "comment": fact.comment,
            "contacted": fact.contacted, "solved": fact.solved, "level": fact.final_level,
            "rated_at": when(fact.rated_at), "closed_as": fact.closed_as,
            "excluded": bool(fact.excluded)}
