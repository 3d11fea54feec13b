"""Intake: the case (诉求件) from filing to closing.

Entrypoints only: load the input with its schema, call a command (handlers.py) in a unit of
work or a read (views.py) in a session, dump the answer. The rules are in case.py and
lifecycle.py, what each step leaves behind in events.py (docs/DESIGN.md, "Adding an action").
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from nameko.exceptions import UnknownService
from nameko.rpc import rpc

from services.common.access import LISTING_PREFIXES, Viewer, reveals_contact_phone
from services.common.bus import RpcTimeout, rpc_proxy
from services.common.calendar import calendar_for
from services.common.clock import ClockProvider
from services.common.contracts import CallerSchema
from services.common.cti import CallEventSchema, event_from
from services.common.db import Database, engine_of
from services.common.errors import Conflict, InvalidInput, NotFound, load_input, load_viewer
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.providers import Built
from services.common.settings import SettingsProvider
from services.intake import calls, domain, handlers, views
from services.intake.models import HotlineCall
from services.intake.schemas import (ACTION_SCHEMAS, AttachmentSchema, CallEventOutcomeSchema,
                                     CallListQuerySchema, CaseListQuerySchema,
                                     FileComplaintSchema, FiledByQuerySchema, FiledSchema,
                                     PledgeSchema)
from services.intake.screening import ScreeningRules
from services.intake.views import SimilarCases

EXPECTED = (InvalidInput, NotFound, Conflict)


def _office(raw, missing: str) -> Viewer:
    """The office's own reads (hotline calls): anyone else finds nothing there."""
    viewer = load_viewer(raw)
    if not viewer.has("office"):
        raise NotFound(missing)
    return viewer


class IntakeService(HealthMixin):
    name = "intake"

    db = Database("intake")
    clock = ClockProvider()
    log_context = LogContext()
    settings = SettingsProvider()
    routing = rpc_proxy("routing")
    # R4's rules, loaded once (a bad file stops the service); X3's index of recent cases;
    # when the office works (a voicemail left outside it is handled from the next morning).
    screening = Built(lambda s: ScreeningRules.load(s.resolve_path(s.screening_rules)))
    similar = Built(lambda s, container: SimilarCases(timedelta(days=s.similar_window_days),
                                                      lambda: engine_of(container)))
    working_hours = Built(lambda s: calls.WorkingHours(
        calendar_for(s).is_working_day, s.workday_start, s.workday_end, s.timezone))
    backlog_metrics = Built(lambda s, container: views.backlog_gauge(lambda: engine_of(container)))

    @property
    def env(self) -> handlers.Env:
        return handlers.Env(self.settings, self.screening, self.working_hours, self._unit_exists)

    def _unit_exists(self, unit_id: str) -> bool:
        """Routing keeps the organisation directory; asked, not copied, so that intake never
        disagrees with the service that assigns. Routing not answering is RpcTimeout (the
        gateway's 503), not a verdict on the unit."""
        try:
            return self.routing.get_unit(unit_id) is not None
        except UnknownService as exc:  # no routing consumer at all
            raise RpcTimeout(f"routing is not running ({exc})") from None

    # ------------------------------------------------------------------ filing
    @rpc(expected_exceptions=EXPECTED)
    def file_complaint(self, filing, complainant, channel="app", filing_key=None, pledge=None):
        """File a complaint, once per `filing_key` and complainant (RPC is at-least-once and
        clients retry). `pledge` (R3): the complainant's promise that it is true, in the
        channel's words; every channel but a unit's own report (R10) must give it."""
        command = handlers.FileComplaint(
            load_input(FileComplaintSchema(), filing), load_input(CallerSchema(), complainant), channel,
            filing_key or str(uuid.uuid4()),
            (load_input(PledgeSchema(), {"pledge": pledge})["pledge"] or "").strip() or None)
        handlers.check_filing(command)
        return FiledSchema().dump(handlers.file_once(self.db, command, self.env))

    # ------------------------------------------------------------------ the hotline
    @rpc(expected_exceptions=EXPECTED)
    def record_call_event(self, payload):
        """One event of a hotline call as the call centre sent it (the gateway checked that
        it did), applied once per event id whichever gateway replica passes it on."""
        event = event_from(load_input(CallEventSchema(), payload))
        with self.db.unit_of_work() as uow:
            answer = handlers.record_call_event(uow, event, self.env)
        return CallEventOutcomeSchema().dump(answer)

    @rpc(expected_exceptions=EXPECTED)
    def get_call(self, call_id, viewer):
        """The office's view of a call: its state, the masked caller, the pledge script to
        read, and the cases filed from it."""
        _office(viewer, f"call {call_id} not found")
        with self.db.session() as session:
            return views.call_view(session, call_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_calls(self, viewer, query=None):
        _office(viewer, "no hotline calls")
        query = load_input(CallListQuerySchema(), query or {})
        with self.db.session() as session:
            return views.call_list(session, query)

    @rpc(expected_exceptions=EXPECTED)
    def file_for_caller(self, call_id, filing, operator, pledge_read=False, filing_key=None):
        """An office operator files on a caller's behalf after reading them the pledge."""
        viewer = _office(operator, f"call {call_id} not found")
        filing = load_input(FileComplaintSchema(), filing)
        if pledge_read is not True:
            raise InvalidInput({"pledge_read": [domain.PLEDGE_REQUIRED]})
        with self.db.session() as session:
            command = handlers.for_caller(session.get(HotlineCall, str(call_id)),
                                          call_id, filing, viewer, filing_key, self.env,
                                          self.clock.now())
        return FiledSchema().dump(handlers.file_once(self.db, command, self.env))

    # ------------------------------------------------------------------ reading
    @rpc(expected_exceptions=EXPECTED)
    def get_complaint(self, complaint_id, viewer, reveal_contact=False):
        """The case as `viewer` may see it; one they may not see does not exist for them.
        `reveal_contact`: the office's case view shows the contact phone whole (audited)."""
        viewer = load_viewer(viewer)
        if viewer.is_staff:   # staff see the similar cases
            self.similar.prepare(self.clock.now())
        with self.db.session() as session:
            view, complaint = views.complaint_view(session, complaint_id, viewer,
                                                   self.clock.now(), self.similar)
        if reveals_contact_phone(viewer, reveal_contact) and complaint.contact_phone:
            with self.db.unit_of_work() as uow:
                handlers.read_contact_phone(uow, complaint.id, viewer, self.env)
            view["contact_phone"] = complaint.contact_phone
        return view

    @rpc(expected_exceptions=EXPECTED)
    def get_attachment(self, complaint_id, sha256, viewer):
        """The attachment's description if the viewer may read the case it belongs to."""
        viewer = load_viewer(viewer)
        with self.db.session() as session:
            return views.attachment_view(session, complaint_id, sha256, viewer)

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, viewer, query=None):
        """The cases `viewer` may read, by view, state, category and due date."""
        viewer, query = load_viewer(viewer), load_input(CaseListQuerySchema(), query or {})
        with self.db.session() as session:
            return views.case_list(session, viewer, query, self.clock.now())

    @rpc(expected_exceptions=EXPECTED)
    def list_filed_by(self, complainant_prefix, query=None):
        """What one channel identity filed (an Open311 app, a WeChat user)."""
        if not complainant_prefix.startswith(LISTING_PREFIXES):
            raise InvalidInput({"complainant_prefix": ["only channel identities list filings"]})
        query = load_input(FiledByQuerySchema(), query or {})
        with self.db.session() as session:
            return views.filed_by_list(session, complainant_prefix, query, self.clock.now())

    @rpc(expected_exceptions=EXPECTED)
    def unit_figures(self, unit_id, viewer):
        """R13: the unit head's live view of the unit's queue."""
        viewer = load_viewer(viewer)
        if not (viewer.has("office") or (viewer.has("head", "handler") and viewer.unit == unit_id)) \
                or not self._unit_exists(unit_id):
            raise NotFound(f"unit {unit_id} not found")
        with self.db.session() as session:
            now = self.clock.now()
            local = now.astimezone(ZoneInfo(self.settings.timezone))
            day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            return views.unit_figures(session, unit_id, now, day_start)

    @rpc(expected_exceptions=EXPECTED)
    def audit_log(self, complaint_id, viewer):
        """X6: the office reads every action on a case."""
        viewer = load_viewer(viewer)
        with self.db.session() as session:
            return views.audit_view(session, complaint_id, viewer)

    # ------------------------------------------------------------------ changing a case
    @rpc(expected_exceptions=EXPECTED)
    def add_attachment(self, complaint_id, viewer, attachment):
        """X4: record a photo or voice message the gateway has stored (by its SHA-256)."""
        attachment = load_input(AttachmentSchema(), attachment)
        command = handlers.AddAttachment(str(complaint_id), load_viewer(viewer), attachment)
        with self.db.unit_of_work() as uow:
            handlers.add_attachment(uow, command, self.env)
        return attachment

    @rpc(expected_exceptions=EXPECTED)
    def act(self, complaint_id, action, viewer, params=None):
        """A staff action (sign_for, start, communicate, reply, return_case, screen_out,
        dispatch, classify, instruct, link, merge); answers with the case after it."""
        if action not in ACTION_SCHEMAS:
            raise NotFound(f"no action {action!r}")
        command = handlers.Act(str(complaint_id), action, load_viewer(viewer),
                               load_input(ACTION_SCHEMAS[action](), params or {}))
        with self.db.unit_of_work() as uow:
            handlers.act(uow, command, self.env)
        return self.get_complaint(complaint_id, viewer)

    # ------------------------------------------------- what the other services tell intake
    # Each applies the event to its case (handlers.PROJECTIONS), once.
    on_complaint_assigned = handlers.projection("routing", "complaint_assigned")
    on_deadline_set = handlers.projection("sla", "deadline_set")
    on_sla_alert = handlers.projection("sla", "sla_alert")
    on_timetable_set = handlers.projection("sla", "timetable_set")
    on_milestone_updated = handlers.projection("sla", "milestone_updated")
    on_extension_requested = handlers.projection("sla", "extension_requested")
    on_extension_decided = handlers.projection("sla", "extension_decided")
    on_complaint_rated = handlers.projection("rating", "complaint_rated")
    on_rating_expired = handlers.projection("rating", "rating_expired")
    on_supervisor_assigned = handlers.projection("routing", "supervisor_assigned")
    on_exclusion_requested = handlers.projection("rating", "exclusion_requested")
    on_exclusion_decided = handlers.projection("rating", "exclusion_decided")
    on_campaign_case_attached = handlers.projection("rating", "campaign_case_attached")
    on_campaign_case_detached = handlers.projection("rating", "campaign_case_detached")
