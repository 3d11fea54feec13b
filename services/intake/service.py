"""Intake: the case (诉求件) from filing to closing.

Entrypoints only: load the input, ask the pure rules (lifecycle.py, access.py, domain.py),
write through the unit of work with the outgoing events, dump the answer.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

from marshmallow import ValidationError
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.common.bus import RpcTimeout, event_handler, rpc_proxy
from services.common.clock import ClockProvider
from services.common.contracts import CallerSchema, load_event
from services.common.db import Database, engine_of, insert_for
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common import metrics
from services.common.health import HealthMixin
from services.common.logs import LogContext, bind_complaint
from services.common.privacy import mask_contact, mask_phones, masked_deep
from services.common.settings import Settings, SettingsProvider
from services.intake import calls, domain
from services.common.access import (ANONYMOUS_LABEL, LISTING_PREFIXES, CaseFacts, Viewer, masks_phones, may_act,
                                    may_read, redact_identity, reveals_contact_phone,
                                    sees_identity)
from services.intake.lifecycle import Case, Communication, Refused, Status
from services.intake.models import (Attachment, AuditEntry, CaseLink, CommunicationRecord,
                                    Complaint, DailyCounter, HotlineCall, TimelineEntry)
from services.intake.schemas import (ACTION_SCHEMAS, AttachmentSchema, CallListQuerySchema,
                                     CallSchema, CaseListQuerySchema, CaseSummarySchema,
                                     ComplaintSchema, FileComplaintSchema, FiledByQuerySchema,
                                     FiledSchema, PledgeSchema)
from services.intake.screening import ScreeningRules
from services.intake.similarity import SimilarityIndex, is_probable_duplicate
from services.common.calendar import calendar_for

def _iso(value):
    """JSON for the moments kept in a text column: ISO 8601, as every answer gives them."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


EXPECTED = (InvalidInput, NotFound, Conflict)

# A communication is dated by the person who records it, from their own clock: allow theirs
# to run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


class ScreeningProvider(DependencyProvider):
    """The R4 rules (config/screening.yaml), loaded once; a bad file stops the service."""

    def setup(self):
        settings = Settings.from_container_config(self.container.config)
        self.rules = ScreeningRules.load(settings.resolve_path(settings.screening_rules))

    def get_dependency(self, worker_ctx):
        return self.rules


class SimilarCases:
    """X3 / R5 举一反三: an in-memory index of the cases received in the last `window`, kept
    current from the database on each query (so every intake replica sees every filing,
    whichever replica took it)."""

    # A filing's received_at is taken before its commit: look back a little past the last
    # loaded case so one that committed late is not skipped (known ids are not re-indexed).
    OVERLAP = timedelta(minutes=2)
    # A handler may read only some of the similar cases: look further down the ranking for
    # theirs rather than show fewer than there are.
    CANDIDATES = 100

    def __init__(self, window: timedelta):
        self.window = window
        self.index = SimilarityIndex()
        self.loaded_until = None
        self.lock = threading.Lock()

    def similar_to(self, session, complaint, now, viewer: Viewer, limit=5) -> list[dict]:
        """The cases most like `complaint` that `viewer` may read (the office: all of them;
        a handler must not learn of another unit's cases, not even their numbers)."""
        with self.lock:
            self._catch_up(session, now)
        everyone = viewer.has("office")
        matches = self.index.similar(f"{complaint.title or ''} {complaint.content}",
                                     limit=limit if everyone else self.CANDIDATES,
                                     exclude=(complaint.id,))
        if not matches:
            return []
        found = {c.id: c for c in session.execute(select(Complaint).where(
            Complaint.id.in_([m.case_id for m in matches]))).scalars()}
        readable = [m for m in matches if m.case_id in found
                    and (everyone or may_read(viewer, _facts(found[m.case_id])))]
        return [{"id": m.case_id, "number": found[m.case_id].number,
                 "status": found[m.case_id].status, "score": round(m.score, 3),
                 "probable_duplicate": is_probable_duplicate(m.score)}
                for m in readable[:limit]]

    def _catch_up(self, session, now):
        since = self.loaded_until - self.OVERLAP if self.loaded_until else now - self.window
        rows = session.execute(select(Complaint.id, Complaint.title, Complaint.content,
                                      Complaint.category, Complaint.received_at)
                               .where(Complaint.received_at > since,
                                      Complaint.status != Status.MERGED)
                               .order_by(Complaint.received_at)).all()
        for row in rows:
            if row.id not in self.index:
                self.index.add(row.id, f"{row.title or ''} {row.content}", row.category,
                               row.received_at)
        if rows:
            self.loaded_until = rows[-1].received_at
        elif self.loaded_until is None:
            self.loaded_until = since
        self.index.prune(now - self.window)


class SimilarCasesProvider(DependencyProvider):
    """One SimilarCases per process, over the `similar_window_days` setting."""

    def setup(self):
        self.cases = SimilarCases(timedelta(days=Settings.from_container_config(
            self.container.config).similar_window_days))

    def get_dependency(self, worker_ctx):
        return self.cases


class WorkingHoursProvider(DependencyProvider):
    """When the office works (the SLA's calendar): a voicemail left outside it is handled
    from the next working morning."""

    def setup(self):
        settings = Settings.from_container_config(self.container.config)
        self.hours = calls.WorkingHours(calendar_for(settings).is_working_day,
                                        settings.workday_start, settings.workday_end,
                                        settings.timezone)

    def get_dependency(self, worker_ctx):
        return self.hours


class BacklogMetrics(DependencyProvider):
    """jiesu_backlog{state,unit,category}: open cases, counted in intake's own table at
    scrape time (at most every 10 s), so every replica reports the same, right number."""

    def setup(self):
        provider = self

        def backlog():
            engine = engine_of(provider.container)
            with engine.connect() as conn:
                return [((state, unit or "", category or domain.UNCLASSIFIED), n)
                        for state, unit, category, n in
                        conn.execute(select(Complaint.status, Complaint.unit_id,
                                            Complaint.category, func.count())
                                     .where(Complaint.status.in_(Status.OPEN))
                                     .group_by(Complaint.status, Complaint.unit_id,
                                               Complaint.category)).all()]

        metrics.query_gauge("jiesu_backlog", "Open cases by state, unit and category",
                            ["state", "unit", "category"]).source("intake", backlog)


class IntakeService(HealthMixin):
    name = "intake"

    db = Database("intake")
    clock = ClockProvider()
    log_context = LogContext()
    settings = SettingsProvider()
    screening = ScreeningProvider()
    similar = SimilarCasesProvider()
    routing = rpc_proxy("routing")
    backlog_metrics = BacklogMetrics()
    working_hours = WorkingHoursProvider()

    # ------------------------------------------------------------------ filing
    @rpc(expected_exceptions=EXPECTED)
    def file_complaint(self, filing, complainant, channel="app", filing_key=None,
                       pledge=None):
        """File a complaint. `filing_key` makes filing idempotent: RPC is at-least-once (a
        request whose worker died before acking is delivered again) and clients retry, so
        the same key from the same complainant returns the first filing, not a second case.
        `pledge` (R3) is the complainant's promise that it is true, in the channel's words;
        every channel but a unit's own report (R10) must give it."""
        try:
            filing = FileComplaintSchema().load(filing)
            complainant = CallerSchema().load(complainant)
            pledge = (PledgeSchema().load({"pledge": pledge})["pledge"] or "").strip() or None
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        if channel not in domain.CHANNEL_LABELS:
            raise InvalidInput({"channel": [f"unknown channel {channel!r}"]})
        if channel == "staff" and not (complainant["unit"] and Viewer.from_dict(
                complainant).has("handler", "head", "office")):
            raise NotFound("only unit staff file proactive reports")
        if channel != "staff" and not pledge:
            raise InvalidInput({"pledge": [domain.PLEDGE_REQUIRED]})
        return self._file_once(filing, complainant, channel, filing_key, pledge)

    def _file_once(self, filing, complainant, channel, filing_key, pledge, call_id=None):
        filing_key = filing_key or str(uuid.uuid4())
        try:
            with self.db.unit_of_work() as uow:
                complaint = self._file(uow, filing, complainant, channel, filing_key, pledge,
                                       call_id)
        except IntegrityError:
            complaint = None  # the same key committed concurrently: answer with that one
        if complaint is None:
            complaint = self._filed_before(complainant["id"], filing_key, filing)
        return FiledSchema().dump(complaint)

    def _file(self, uow, filing, complainant, channel, filing_key, pledge, call_id=None):
        """The new case in the caller's unit of work, or None if this key filed one before.
        A filing without a category (a hotline voicemail) waits for the office to classify
        it: nothing is announced until then, so nothing routes it."""
        settings = self.settings
        now = self.clock.now()
        if _find_filing(uow.session, complainant["id"], filing_key) is not None:
            return None
        complaint_id = str(uuid.uuid4())
        bind_complaint(complaint_id)
        day = domain.local_day(now, settings.timezone)
        number = domain.complaint_number(settings.complaint_number_prefix, day,
                                         _next_in_day(uow.session, day))
        proactive = channel == "staff"
        complaint = Complaint(
            id=complaint_id, number=number, status=Status.RECEIVED, channel=channel,
            complainant_id=complainant["id"], complainant_name=complainant["name"],
            complainant_college=complainant["college"], filing_key=filing_key,
            received_at=now, proactive=proactive, pledge=pledge, call_id=call_id,
            reporter_unit_id=complainant["unit"] if proactive else None, round=0,
            disputed=False, instructed=False, **filing)
        uow.session.add(complaint)
        _append(uow.session, complaint_id,
                domain.received_line(number, channel, filing["category"]), now)
        uow.session.flush()  # a duplicate key fails here, before anything is emitted
        _audit(uow, complaint_id, complainant["id"], "complainant", "file",
               {"status": [None, complaint.status]})
        if complaint.category is not None:
            self._announce(uow, complaint, now)
        metrics.RECEIVED.labels(channel, complaint.category or domain.UNCLASSIFIED).inc()
        return complaint

    def _announce(self, uow, complaint, now):
        """complaint_received: routing, notify, rating and sla take it from here, unless the
        screening rules (R4) answer it with their template instead."""
        verdict = self.screening.screen(complaint.title, complaint.content)
        screened = None
        if verdict is not None:
            # R4: recorded, counted and answered with its template; never routed.
            complaint.status = Status.SCREENED_OUT
            complaint.screened_rule, complaint.screened_kind = verdict.rule_id, verdict.kind
            screened = {"rule": verdict.rule_id, "kind": verdict.kind,
                        "channel": verdict.channel, "reply": verdict.reply}
            _append(uow.session, complaint.id, domain.screened_line(verdict.reply), now)
        uow.emit("complaint_received", complaint.id, number=complaint.number,
                 channel=complaint.channel,
                 complainant={"id": complaint.complainant_id, "name": complaint.complainant_name},
                 college=complaint.complainant_college, proactive=complaint.proactive,
                 reporter_unit=complaint.reporter_unit_id, screened=screened,
                 category=complaint.category, title=complaint.title, content=complaint.content,
                 contact_phone=complaint.contact_phone, location=complaint.location,
                 anonymous=complaint.anonymous, urgent=complaint.urgent)

    def _filed_before(self, complainant_id, filing_key, filing):
        with self.db.session() as session:
            complaint = _find_filing(session, complainant_id, filing_key)
            if complaint is None:  # pragma: no cover - the key vanished: a bug, not input
                raise RuntimeError(f"filing {filing_key} is neither new nor known")
            if (complaint.category, complaint.content) != (filing["category"], filing["content"]):
                raise Conflict({"idempotency_key": [
                    "该幂等键已用于另一条诉求 (this key was used for a different complaint)"]})
            bind_complaint(complaint.id)
            return complaint

    # ------------------------------------------------------------------ the hotline
    @rpc(expected_exceptions=EXPECTED)
    def record_call_event(self, payload):
        """One event of a hotline call, as the call centre sent it (the gateway checked that
        it did). Applied once per event id, whichever gateway replica passes it on: the
        answer says what followed (`duplicate`, `nothing`, `offer`: the operator may file
        for the caller, `voicemail`: a case was filed from the message)."""
        try:
            event = calls.event_from(calls.CallEventSchema().load(payload))
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        with self.db.unit_of_work() as uow:
            # The row exists (a call's first events may arrive at once), then is locked: the
            # events of one call are applied one after the other.
            uow.session.execute(insert_for(uow.session, HotlineCall.__table__).values(
                call_id=event.call_id, log="{}", updated_at=uow.clock.now())
                .on_conflict_do_nothing(index_elements=["call_id"]))
            row = uow.session.execute(select(HotlineCall).where(
                HotlineCall.call_id == event.call_id).with_for_update()).scalar_one()
            stored = json.loads(row.log)
            log = calls.CallLog.from_dict(stored, self.working_hours) if stored \
                else calls.CallLog(event.call_id, self.working_hours)
            if event.event_id in log.applied:
                return {"outcome": "duplicate", "call_id": event.call_id}
            action = log.apply(event)
            answer = {"outcome": "nothing", "call_id": event.call_id,
                      "reason": getattr(action, "reason", None)}
            if isinstance(action, calls.OfferFiling):
                answer = {"outcome": "offer", "call_id": event.call_id,
                          "operator": action.operator, "caller": str(action.caller),
                          "script": action.script}
            elif isinstance(action, calls.FileVoicemail):
                complaint = self._file_voicemail(uow, action)
                row.complaint_id = complaint.id
                answer = {"outcome": "voicemail", "call_id": event.call_id,
                          "complaint": FiledSchema().dump(complaint),
                          "counts_from": action.counts_from.isoformat()}
            row.state, row.log = log.state, json.dumps(log.as_dict(), ensure_ascii=False)
            row.updated_at = uow.clock.now()
        return answer

    def _file_voicemail(self, uow, action: "calls.FileVoicemail") -> Complaint:
        number = action.caller.number
        filing = {"category": None, "title": None, "content": action.content,
                  "location": None, "contact_phone": domain.reachable_phone(number),
                  "anonymous": False, "urgent": False}
        complaint = self._file(uow, filing, self._caller(number), "hotline",
                               f"call:{action.call_id}", action.pledge, action.call_id)
        if complaint is None:  # the call's row was lost but its case was not: find it
            complaint = _find_filing(uow.session, self._caller(number)["id"],
                                     f"call:{action.call_id}")
        else:
            now = self.clock.now()
            if action.recording_url and action.recording_url not in complaint.content:
                # The office listens to it before classifying (the transcript may be rough).
                _append(uow.session, complaint.id, domain.recording_line(action.recording_url),
                        now)
            if action.counts_from != action.received_at:
                _append(uow.session, complaint.id, domain.voicemail_line(
                    action.counts_from, self.settings.timezone), now)
        return complaint

    def _caller(self, number: str) -> dict:
        """A hotline caller as a complainant: a pseudonym, never the number, identifies them
        (staff lists show complainant ids); the number is kept as the contact phone."""
        return {"id": domain.caller_pseudonym(number, self.settings.caller_pseudonym_key),
                "name": None, "roles": ["complainant"], "unit": None, "college": None}

    @rpc(expected_exceptions=EXPECTED)
    def get_call(self, call_id, viewer):
        """The office's view of a hotline call: its state, the masked caller, the pledge
        script to read, and the cases filed from it."""
        viewer = _viewer(viewer)
        if not viewer.has("office"):
            raise NotFound(f"call {call_id} not found")
        with self.db.session() as session:
            row = session.get(HotlineCall, str(call_id))
            if row is None:
                raise NotFound(f"call {call_id} not found")
            return _call_views(session, [row])[0]

    @rpc(expected_exceptions=EXPECTED)
    def list_calls(self, viewer, query=None):
        """The office's list of hotline calls, newest first; `unfiled=true`: the calls an
        operator answered and nobody has filed for yet, so that no caller is forgotten."""
        viewer = _viewer(viewer)
        if not viewer.has("office"):
            raise NotFound("no hotline calls")
        try:
            query = CallListQuerySchema().load(query or {})
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        statement = select(HotlineCall).order_by(HotlineCall.updated_at.desc())
        if query["unfiled"]:
            statement = statement.where(
                HotlineCall.state.in_((calls.ANSWERED, calls.ENDED)),
                ~select(Complaint.id).where(Complaint.call_id == HotlineCall.call_id).exists())
        with self.db.session() as session:
            rows = session.execute(statement.limit(query["limit"])
                                   .offset(query["offset"])).scalars().all()
            return _call_views(session, rows)

    @rpc(expected_exceptions=EXPECTED)
    def file_for_caller(self, call_id, filing, operator, pledge_read=False, filing_key=None):
        """An operator of the office files on a hotline caller's behalf, linked to the call.
        The operator must have read the pledge (calls.PLEDGE_SCRIPT) and heard the caller
        accept it; the case records who read it and when."""
        viewer = _viewer(operator)
        if not viewer.has("office"):
            raise NotFound(f"call {call_id} not found")
        try:
            filing = FileComplaintSchema().load(filing)
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        if pledge_read is not True:
            raise InvalidInput({"pledge_read": [domain.PLEDGE_REQUIRED]})
        with self.db.session() as session:
            row = session.get(HotlineCall, str(call_id))
            log = json.loads(row.log) if row is not None else {}
        if row is None or row.state not in (calls.ANSWERED, calls.ENDED):
            raise NotFound(f"no answered call {call_id}")
        number = log["caller"]
        filing["contact_phone"] = filing["contact_phone"] or domain.reachable_phone(number)
        pledge = calls.pledge_record(viewer.name or viewer.id, self.clock.now(),
                                     self.settings.timezone)
        return self._file_once(filing, self._caller(number), "hotline",
                               filing_key or f"call:{call_id}:{uuid.uuid4()}", pledge, call_id)

    # ------------------------------------------------------------------ reading
    @rpc(expected_exceptions=EXPECTED)
    def get_complaint(self, complaint_id, viewer, reveal_contact=False):
        """The case as `viewer` may see it. A case the viewer may not see does not exist for
        them (NotFound), so nobody learns which numbers are taken. Staff read phone numbers
        masked (X5); `reveal_contact`: the office's case view, from which it calls the
        complainant back, shows the contact phone whole, and that read is audited (R15)."""
        viewer = _viewer(viewer)
        with self.db.session() as session:
            complaint = _readable(session, complaint_id, viewer)
            view = _with_time_left(ComplaintSchema().dump(complaint), complaint,
                                   self.clock.now())
            view["communications"] = [
                {"kind": c.kind, "at": c.at.isoformat(), "with_whom": c.with_whom,
                 "summary": c.summary, "round": c.round}
                for c in session.execute(select(CommunicationRecord).where(
                    CommunicationRecord.complaint_id == complaint.id)
                    .order_by(CommunicationRecord.at)).scalars()]
            view["attachments"] = [
                {"sha256": a.sha256, "media_type": a.media_type, "kind": a.kind, "size": a.size}
                for a in session.execute(select(Attachment).where(
                    Attachment.complaint_id == complaint.id).order_by(Attachment.added_at))
                .scalars()]
            if viewer.is_staff:
                view["links"] = [{"other_id": link.other_id, "kind": link.kind}
                                 for link in session.execute(select(CaseLink).where(
                                     CaseLink.complaint_id == complaint.id)).scalars()]
                view["similar"] = self.similar.similar_to(session, complaint, self.clock.now(),
                                                          viewer)
            view = _shown_to(view, complaint, viewer)
        if reveals_contact_phone(viewer, reveal_contact) and complaint.contact_phone:
            with self.db.unit_of_work() as uow:
                _audit(uow, complaint.id, viewer.id, "office", "view_contact_phone",
                       {"note": "查看联系电话"})
            view["contact_phone"] = complaint.contact_phone
        return view

    # ------------------------------------------------------------------ attachments
    @rpc(expected_exceptions=EXPECTED)
    def add_attachment(self, complaint_id, viewer, attachment):
        """X4: record a photo or voice message the gateway has stored (by its SHA-256) on a
        case the viewer may read; the bytes themselves never cross the bus."""
        viewer = _viewer(viewer)
        try:
            attachment = AttachmentSchema().load(attachment)
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            complaint = _locked(uow.session, complaint_id)
            if complaint is None or not may_read(viewer, _facts(complaint)):
                raise NotFound(f"complaint {complaint_id} not found")
            if uow.session.get(Attachment, (complaint.id, attachment["sha256"])) is None:
                count = uow.session.execute(select(func.count()).where(
                    Attachment.complaint_id == complaint.id)).scalar()
                if count >= self.settings.max_attachments:
                    raise Conflict({"code": "too_many",
                                    "message": f"每条诉求最多 {self.settings.max_attachments} 个附件"})
                uow.session.add(Attachment(complaint_id=complaint.id, added_by=viewer.id,
                                           added_at=now, **attachment))
                _append(uow.session, complaint.id, domain.TimelineLine(
                    "attachment", f"添加{domain.KIND_LABELS[attachment['kind']]}附件",
                    _actor_name(complaint, viewer.id, viewer.name)), now)
                _audit(uow, complaint.id, viewer.id, viewer.main_role(), "attach",
                       {"attachment": [None, attachment["sha256"]]})
        return attachment

    @rpc(expected_exceptions=EXPECTED)
    def get_attachment(self, complaint_id, sha256, viewer):
        """The attachment's description if the viewer may read the case it belongs to."""
        viewer = _viewer(viewer)
        with self.db.session() as session:
            _readable(session, complaint_id, viewer)
            found = session.get(Attachment, (str(complaint_id), str(sha256)))
            if found is None:
                raise NotFound("attachment not found")
            return {"sha256": found.sha256, "media_type": found.media_type, "kind": found.kind,
                    "size": found.size}

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, viewer, query=None):
        """A staff member's list: the unit inbox (handler/head), the office's views, the
        leader's supervised items; a complainant's own cases. Filters: state, category,
        due_before, view."""
        viewer = _viewer(viewer)
        try:
            query = CaseListQuerySchema().load(query or {})
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        statement = select(Complaint)
        view = query["view"]
        if viewer.has("office"):
            pass
        elif viewer.has("leader") and view == "supervised":
            statement = statement.where(Complaint.supervisor_id == viewer.id)
        elif viewer.has("handler", "head") and viewer.unit:
            statement = statement.where(Complaint.unit_id == viewer.unit)
        else:
            statement = statement.where(Complaint.complainant_id == viewer.id)
        statement = statement.where(*_view_filter(view))
        if query.get("state"):
            statement = statement.where(Complaint.status == query["state"])
        if query.get("category"):
            statement = statement.where(Complaint.category == query["category"])
        if query.get("due_before"):
            statement = statement.where(Complaint.due_at <= query["due_before"])
        order = Complaint.due_at.asc().nulls_last() if query["sort"] == "due" \
            else Complaint.received_at.desc()
        statement = statement.order_by(order).limit(query["limit"]).offset(query["offset"])
        with self.db.session() as session:
            rows = session.execute(statement).scalars().all()
            now = self.clock.now()
            return [_shown_to(_with_time_left(CaseSummarySchema().dump(c), c, now), c, viewer)
                    for c in rows]

    @rpc(expected_exceptions=EXPECTED)
    def list_filed_by(self, complainant_prefix, query=None):
        """What one channel identity filed (an Open311 app, a WeChat user), with GeoReport's
        filters; by default the last 90 days, newest first."""
        if not complainant_prefix.startswith(LISTING_PREFIXES):
            raise InvalidInput({"complainant_prefix": ["only channel identities list filings"]})
        try:
            query = FiledByQuerySchema().load(query or {})
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        now = self.clock.now()
        statement = select(Complaint).where(
            Complaint.complainant_id.startswith(complainant_prefix, autoescape=True),
            Complaint.received_at >= (query["start_date"] or now - timedelta(days=90)),
            Complaint.received_at <= (query["end_date"] or now))
        if query["ids"]:
            statement = statement.where(Complaint.id.in_(query["ids"]))
        if query["number"]:
            statement = statement.where(Complaint.number == query["number"])
        if query["service_code"]:
            statement = statement.where(Complaint.category == query["service_code"])
        closed = (Status.CLOSED, Status.SCREENED_OUT, Status.MERGED)
        if query["statuses"] == ["open"]:
            statement = statement.where(Complaint.status.not_in(closed))
        elif query["statuses"] == ["closed"]:
            statement = statement.where(Complaint.status.in_(closed))
        statement = statement.order_by(Complaint.received_at.desc()).limit(query["limit"])
        with self.db.session() as session:
            rows = session.execute(statement).scalars().all()
            updated = dict(session.execute(
                select(TimelineEntry.complaint_id, func.max(TimelineEntry.at))
                .where(TimelineEntry.complaint_id.in_([c.id for c in rows]))
                .group_by(TimelineEntry.complaint_id)).all()) if rows else {}
            return [dict(_with_time_left(CaseSummarySchema().dump(c), c, now),
                         updated_at=updated[c.id].isoformat() if c.id in updated else None)
                    for c in rows]

    @rpc(expected_exceptions=EXPECTED)
    def unit_figures(self, unit_id, viewer):
        """R13: the unit head's live view of the unit's queue."""
        viewer = _viewer(viewer)
        if not (viewer.has("office") or (viewer.has("head", "handler") and viewer.unit == unit_id)):
            raise NotFound(f"unit {unit_id} not found")
        if not self._unit_exists(unit_id):
            raise NotFound(f"unit {unit_id} not found")
        now = self.clock.now()
        with self.db.session() as session:
            by_state = dict(session.execute(
                select(Complaint.status, func.count()).where(Complaint.unit_id == unit_id)
                .group_by(Complaint.status)).all())
            open_states = [s for s in Status.OPEN if s != Status.RECEIVED]
            overdue = session.execute(select(func.count()).where(
                Complaint.unit_id == unit_id, Complaint.status.in_(open_states),
                Complaint.due_at < now)).scalar()
        return {"unit_id": unit_id, "by_state": by_state, "overdue": overdue,
                "open": sum(n for s, n in by_state.items() if s in Status.OPEN),
                "at": now.isoformat()}

    @rpc(expected_exceptions=EXPECTED)
    def audit_log(self, complaint_id, viewer):
        """X6: the office reads every action on a case (the numbers typed into it masked)."""
        viewer = _viewer(viewer)
        if not viewer.has("office"):
            raise NotFound(f"complaint {complaint_id} not found")
        with self.db.session() as session:
            _readable(session, complaint_id, viewer)
            return [{"at": e.at.isoformat(), "actor_id": e.actor_id, "actor_role": e.actor_role,
                     "action": e.action, "changes": masked_deep(json.loads(e.changes))}
                    for e in session.execute(select(AuditEntry).where(
                        AuditEntry.complaint_id == complaint_id)
                        .order_by(AuditEntry.id)).scalars()]

    # ------------------------------------------------------------------ staff actions
    @rpc(expected_exceptions=EXPECTED)
    def act(self, complaint_id, action, viewer, params=None):
        """A staff action on a case: sign_for, start, communicate, reply, return_case,
        screen_out, dispatch, instruct, link, merge. Refused → Conflict (409), and nothing
        changes; a case the viewer may not act on → NotFound."""
        caller, viewer = viewer, _viewer(viewer)
        schema = ACTION_SCHEMAS.get(action)
        if schema is None:
            raise NotFound(f"no action {action!r}")
        try:
            params = schema().load(params or {})
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            complaint = _locked(uow.session, complaint_id)
            if complaint is None or not may_read(viewer, _facts(complaint)) \
                    or not may_act(viewer, action, _facts(complaint)):
                raise NotFound(f"complaint {complaint_id} not found")
            bind_complaint(complaint.id)
            try:
                if (complaint.category is None) != (action == "classify") and action != "link":
                    raise Refused(*domain.CLASSIFY_FIRST if complaint.category is None
                                  else domain.ALREADY_CLASSIFIED)
                getattr(self, f"_do_{action}")(uow, complaint, viewer, params, now)
            except Refused as refused:
                raise Conflict({"code": refused.code, "message": refused.message})
        return self.get_complaint(complaint_id, caller)

    def _do_classify(self, uow, complaint, viewer, params, now):
        """A voicemail becomes a case like any other: the office gives it its category (and
        a title, or urgency) after listening, and it is announced, screened and routed."""
        complaint.category = params["category"]
        complaint.title = params.get("title") or complaint.title
        complaint.urgent = params["urgent"]
        _append(uow.session, complaint.id, domain.transition_line(
            "classify", viewer.name, domain.category_label(complaint.category)), now)
        _audit(uow, complaint.id, viewer.id, "office", "classify",
               {"category": [None, complaint.category]})
        self._announce(uow, complaint, now)

    def _do_sign_for(self, uow, complaint, viewer, params, now):
        self._transition(uow, complaint, "sign_for", viewer, now)

    def _do_start(self, uow, complaint, viewer, params, now):
        self._transition(uow, complaint, "start", viewer, now)

    def _do_return_case(self, uow, complaint, viewer, params, now):
        self._transition(uow, complaint, "return_case", viewer, now, note=params["reason"])

    def _do_reply(self, uow, complaint, viewer, params, now):
        complaint.reply_outcome, complaint.reply_text = params["outcome"], params["text"]
        self._transition(uow, complaint, "reply", viewer, now, note=params["text"],
                         outcome=params["outcome"])

    def _do_communicate(self, uow, complaint, viewer, params, now):
        case = _case(uow.session, complaint).record_communication(params["kind"], params["at"])
        _check_communication_date(params["at"], complaint, now)
        uow.session.add(CommunicationRecord(
            complaint_id=complaint.id, kind=params["kind"], at=params["at"],
            with_whom=params["with_whom"], summary=params["summary"], round=complaint.round,
            recorded_by=viewer.id, recorded_at=now))
        line = domain.communication_line(params["kind"], params["with_whom"], params["summary"],
                                         viewer.name or viewer.id)
        _append(uow.session, complaint.id, line, params["at"])
        if case.status != complaint.status:  # the first record starts the handling
            self._transition(uow, complaint, "start", viewer, now)
        _audit(uow, complaint.id, viewer.id, viewer.main_role(), "communicate",
               {"communication": [None, params["kind"]]})

    def _do_screen_out(self, uow, complaint, viewer, params, now):
        reply = self.screening.template_for(params["rule"])
        if reply is None:
            raise Refused("unknown_rule", f"没有规则 {params['rule']}")
        complaint.screened_rule = params["rule"]
        complaint.screened_kind = self.screening.kind_of(params["rule"])
        self._transition(uow, complaint, "screen_out", viewer, now, note=reply)

    def _do_dispatch(self, uow, complaint, viewer, params, now):
        # Checked now: 400 for a unit routing does not know (it could not assign there, and
        # the case would stay where it is without a word), whatever the case's state; 409 if
        # the state does not allow it. The assignment itself arrives from routing, which
        # names the handler.
        unit_id = params.get("unit_id")
        if unit_id is not None and not self._unit_exists(unit_id):
            raise InvalidInput({"unit_id": [
                f"没有这个单位 (no such unit in the organisation directory: {unit_id!r})"]})
        _case(uow.session, complaint).apply("assign", now=now, unit_id=unit_id
                                           or complaint.unit_id or "by-rule")
        self._request_dispatch(uow, complaint, unit_id, viewer, now)

    def _unit_exists(self, unit_id: str) -> bool:
        """Routing keeps the organisation directory; asked, not copied, so that intake never
        disagrees with the service that assigns. Routing not answering is RpcTimeout (the
        gateway's 503), not a verdict on the unit."""
        try:
            return self.routing.get_unit(unit_id) is not None
        except UnknownService as exc:  # no routing consumer at all
            raise RpcTimeout(f"routing is not running ({exc})") from None

    def _do_instruct(self, uow, complaint, viewer, params, now):
        _case(uow.session, complaint).instruct()
        complaint.instructed, complaint.instruction = True, params["text"]
        _append(uow.session, complaint.id,
                domain.transition_line("instruct", viewer.name, params["text"]), now)
        _audit(uow, complaint.id, viewer.id, "leader", "instruct", {"instruction":
                                                                    [None, params["text"]]})
        # 督办: the unit that handled it handles it again, under the instruction.
        self._request_dispatch(uow, complaint, complaint.unit_id, viewer, now)

    def _do_link(self, uow, complaint, viewer, params, now):
        other = uow.session.get(Complaint, params["other_id"])
        if other is None or other.id == complaint.id:
            raise Refused("unknown_case", "关联的诉求不存在")
        for a, b in ((complaint.id, other.id), (other.id, complaint.id)):
            if uow.session.get(CaseLink, (a, b)) is None:
                uow.session.add(CaseLink(complaint_id=a, other_id=b, kind="similar",
                                         linked_by=viewer.id, linked_at=now))
        _append(uow.session, complaint.id, domain.transition_line(
            "link", viewer.name, f"关联类似诉求 {other.number}"), now)
        _audit(uow, complaint.id, viewer.id, "office", "link", {"link": [None, other.id]})

    def _do_merge(self, uow, complaint, viewer, params, now):
        target = uow.session.get(Complaint, params["into"])
        if target is None or target.id == complaint.id or target.status not in Status.OPEN:
            raise Refused("unknown_case", "合并目标须为另一条办理中的诉求")
        complaint.merged_into = target.id
        for a, b in ((complaint.id, target.id), (target.id, complaint.id)):
            uow.session.merge(CaseLink(complaint_id=a, other_id=b, kind="duplicate",
                                       linked_by=viewer.id, linked_at=now))
        self._transition(uow, complaint, "merge", viewer, now,
                         note=f"与 {target.number} 重复,合并办理")
        _append(uow.session, target.id, domain.transition_line(
            "merge", viewer.name, f"合并重复诉求 {complaint.number}(其诉求人同样收到办理进展)"),
            now)

    def _request_dispatch(self, uow, complaint, unit_id, viewer, now):
        uow.emit("dispatch_requested", complaint.id, number=complaint.number,
                 category=complaint.category, unit_id=unit_id, round=complaint.round,
                 received_at=complaint.received_at, lead_unit_id=complaint.lead_unit_id)
        _append(uow.session, complaint.id, domain.transition_line(
            "dispatch", viewer.name, f"转办 {unit_id or '按规则派单'}"), now)
        _audit(uow, complaint.id, viewer.id, viewer.main_role(), "dispatch",
               {"unit_id": [complaint.unit_id, unit_id]})

    def _transition(self, uow, complaint, action, actor, now, note=None, outcome=None,
                    actor_role=None):
        """Apply one lifecycle step: the rules, the new state, a timeline line, an audit
        entry and the event, all in the caller's unit of work."""
        before = _case(uow.session, complaint)
        after = before.apply(action, now=now, outcome=outcome)
        complaint.status, complaint.round = after.status, after.round
        complaint.instructed = after.instructed
        _observe_handling(action, complaint, now)
        actor_name = getattr(actor, "name", None) or getattr(actor, "id", None) or str(actor)
        role = actor_role or (actor.main_role() if isinstance(actor, Viewer) else "system")
        _append(uow.session, complaint.id,
                domain.transition_line(action, actor_name, note, outcome), now)
        _audit(uow, complaint.id, getattr(actor, "id", str(actor)), role, action,
               {"status": [before.status, after.status], "round": [before.round, after.round]})
        uow.emit("complaint_transitioned", complaint.id, number=complaint.number,
                 category=complaint.category, action=action, from_status=before.status,
                 to_status=after.status, round=after.round,
                 actor={"id": getattr(actor, "id", str(actor)), "name": actor_name},
                 actor_role=role,
                 unit={"id": complaint.unit_id, "name": complaint.unit_name}
                 if complaint.unit_id else None,
                 complainants=_complainants(uow.session, complaint), channel=complaint.channel,
                 note=note, outcome=outcome)

    # --------------------------------------------------------------- events
    @event_handler("routing", "complaint_assigned")
    def on_complaint_assigned(self, payload):
        event = load_event("complaint_assigned", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_complaint_assigned"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            try:
                after = _case(uow.session, complaint).apply("assign", now=event["occurred_at"],
                                                           unit_id=event["unit"]["id"])
            except Refused as refused:
                # e.g. screened out by the office meanwhile: record it, change nothing
                _append(uow.session, complaint.id, domain.TimelineLine(
                    "assign_ignored", f"派单未生效:{refused.message}", "routing"),
                    event["occurred_at"], event["event_id"])
                return
            complaint.status, complaint.lead_unit_id = after.status, after.lead_unit_id
            complaint.grade = event["grade"]
            complaint.unit_id, complaint.unit_name = event["unit"]["id"], event["unit"]["name"]
            complaint.handler_id = event["handler"]["id"]
            complaint.handler_name = event["handler"]["name"]
            complaint.assigned_at = event["occurred_at"]
            if event["disputed"]:
                complaint.disputed = True
                complaint.assisting_units = json.dumps(event["assisting_units"],
                                                       ensure_ascii=False)
            line = domain.assigned_line(event["unit"]["name"], event["handler"]["name"])
            if event["disputed"]:
                names = "、".join(u["name"] for u in event["assisting_units"])
                line = domain.TimelineLine(line.kind, f"{line.text}(首接主办;协办:{names})",
                                           line.actor)
            _append(uow.session, complaint.id, line, event["occurred_at"], event["event_id"])
            _audit(uow, complaint.id, "routing", "system", "assign",
                   {"unit_id": [None, event["unit"]["id"]],
                    "handler_id": [None, event["handler"]["id"]]})

    @event_handler("sla", "deadline_set")
    def on_deadline_set(self, payload):
        event = load_event("deadline_set", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_deadline_set"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            if event["target"] == "response":
                complaint.response_due_at = event["due_at"]
                return
            complaint.due_at = event["due_at"]
            if complaint.first_due_at is None:
                complaint.first_due_at = event["due_at"]
            if event["extended"]:
                complaint.sla_state = "normal"
                line = domain.extension_line(event["due_at"], event["reason"],
                                             self.settings.timezone)
            else:
                line = domain.deadline_line(event["grade"], event["due_at"],
                                            self.settings.timezone)
            _append(uow.session, complaint.id, line, event["occurred_at"], event["event_id"])

    @event_handler("sla", "sla_alert")
    def on_sla_alert(self, payload):
        """R12: warnings, urging and escalation show on the case; its SLA state follows."""
        event = load_event("sla_alert", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_sla_alert"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            if event["target"] == "resolution" and complaint.status in Status.OPEN:
                state = domain.sla_state_after(complaint.sla_state, event["alert"])
                complaint.sla_state = state
            _append(uow.session, complaint.id, domain.alert_line(event), event["occurred_at"],
                    event["event_id"])

    @event_handler("sla", "timetable_set")
    def on_timetable_set(self, payload):
        event = load_event("timetable_set", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_timetable_set"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            complaint.timetable = json.dumps(event["milestones"], ensure_ascii=False,
                                             default=_iso)
            _append(uow.session, complaint.id,
                    domain.timetable_line(event["milestones"], self.settings.timezone),
                    event["occurred_at"], event["event_id"])

    @event_handler("sla", "milestone_updated")
    def on_milestone_updated(self, payload):
        event = load_event("milestone_updated", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_milestone_updated"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            steps = json.loads(complaint.timetable or "[]")
            for step in steps:
                if step["id"] == event["milestone"]["id"]:
                    step["status"] = event["milestone"]["status"]
                    if event["update"] == "feedback":
                        step["feedback_given"] = True
            complaint.timetable = json.dumps(steps, ensure_ascii=False, default=_iso)
            _append(uow.session, complaint.id, domain.milestone_line(event),
                    event["occurred_at"], event["event_id"])

    @event_handler("sla", "extension_requested")
    def on_extension_requested(self, payload):
        self._extension_line(load_event("extension_requested", payload))

    @event_handler("sla", "extension_decided")
    def on_extension_decided(self, payload):
        self._extension_line(load_event("extension_decided", payload))

    def _extension_line(self, event):
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, f"intake.on_{event['event_type']}"):
                return
            _locked_or_fail(uow.session, event["complaint_id"])
            _append(uow.session, event["complaint_id"],
                    domain.extension_request_line(event, self.settings.timezone),
                    event["occurred_at"], event["event_id"])

    @event_handler("rating", "complaint_rated")
    def on_complaint_rated(self, payload):
        """R9: the decision is rating's; the state change is ours."""
        event = load_event("complaint_rated", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_complaint_rated"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            complaint.last_rating = event["level"]
            rater = Viewer(event["rater"]["id"], _actor_name(
                complaint, event["rater"]["id"], event["rater"].get("name")), ("complainant",))
            self._transition(uow, complaint, event["decision"], rater, event["occurred_at"],
                             note=f"评价:{domain.LEVEL_LABELS[event['level']]}"
                                  + (f",{event['comment']}" if event["comment"] else ""),
                             actor_role="complainant")

    @event_handler("routing", "supervisor_assigned")
    def on_supervisor_assigned(self, payload):
        event = load_event("supervisor_assigned", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_supervisor_assigned"):
                return
            complaint = _locked_or_fail(uow.session, event["complaint_id"])
            complaint.supervisor_id = event["leader"]["id"]
            complaint.supervisor_name = event["leader"]["name"]
            _append(uow.session, complaint.id, domain.TimelineLine(
                "supervisor_assigned", f"纳入督办,由分管校领导 {event['leader']['name']} 批示办理",
                "routing"), event["occurred_at"], event["event_id"])


# ---------------------------------------------------------------------------- helpers
def _check_communication_date(at, complaint: Complaint, now) -> None:
    """R6: a communication record says when the complainant was talked to; it cannot be
    later than now, nor earlier than the case (the schema bounds the year already)."""
    if at > now + CLOCK_SKEW:
        raise InvalidInput({"at": ["沟通时间不能是未来的时间 (a communication cannot be dated in "
                                   "the future)"]})
    if at < complaint.received_at:
        raise InvalidInput({"at": ["沟通时间不能早于诉求受理时间 (a communication cannot be dated "
                                   "before the case was filed)"]})


def _observe_handling(action: str, complaint: Complaint, now) -> None:
    unit = complaint.unit_id or ""
    if action == "sign_for" and complaint.assigned_at:
        metrics.TIME_TO_SIGN.labels(unit).observe((now - complaint.assigned_at).total_seconds())
    elif action == "reply":
        metrics.TIME_TO_REPLY.labels(unit).observe((now - complaint.received_at).total_seconds())


def _viewer(raw) -> Viewer:
    try:
        return Viewer.from_dict(CallerSchema().load(raw))
    except ValidationError as exc:
        raise InvalidInput(exc.messages)


def _facts(complaint: Complaint) -> CaseFacts:
    assisting = tuple(u["id"] for u in json.loads(complaint.assisting_units or "[]"))
    return CaseFacts(complaint.complainant_id, complaint.unit_id, assisting,
                     complaint.supervisor_id, complaint.reporter_unit_id)


def _case(session, complaint: Complaint) -> Case:
    communications = tuple(Communication(kind, at, round_) for kind, at, round_ in session.execute(
        select(CommunicationRecord.kind, CommunicationRecord.at, CommunicationRecord.round)
        .where(CommunicationRecord.complaint_id == complaint.id)).all())
    return Case(status=complaint.status, round=complaint.round, unit_id=complaint.unit_id,
                lead_unit_id=complaint.lead_unit_id, disputed=complaint.disputed,
                first_due_at=complaint.first_due_at, communications=communications,
                instructed=complaint.instructed, merged_into=complaint.merged_into,
                has_timetable=bool(complaint.timetable))


def _complainants(session, complaint: Complaint) -> list[dict]:
    """The case's complainant and those of the duplicates merged into it."""
    merged = session.execute(select(Complaint.complainant_id, Complaint.complainant_name)
                             .where(Complaint.merged_into == complaint.id)).all()
    people = [{"id": complaint.complainant_id, "name": complaint.complainant_name}]
    people += [{"id": cid, "name": name} for cid, name in merged]
    return people


def _with_time_left(view: dict, complaint: Complaint, now) -> dict:
    """Seconds to the deadline (negative when overdue) while the case is being handled."""
    open_ = complaint.status in Status.OPEN and complaint.status != Status.REPLIED
    view["time_left_seconds"] = int((complaint.due_at - now).total_seconds()) \
        if complaint.due_at and open_ else None
    return view


def _actor_name(complaint: Complaint, person_id: str, name: str | None) -> str:
    """Who did it, as the timeline records it: the complainant as the case knows them (so
    that `_shown_to` can hide them on an anonymous case, whatever name a later token
    carries); anyone else by their name."""
    if person_id == complaint.complainant_id:
        return complaint.complainant_name or complaint.complainant_id
    return name or person_id


# What people type into a case (and staff into its records): where phone numbers and an
# anonymous complainant's name can hide.
_FREE_TEXT = ("title", "content", "location", "reply_text", "instruction")


def _shown_to(view: dict, complaint: Complaint, viewer: Viewer) -> dict:
    """X5: a case (or a list line) as `viewer` may read it. Staff read every phone number
    masked; a unit (or leader) reading an anonymous complainant's case reads neither their
    name nor their id, in the fields, in what was typed, or as the one who acted (their
    attachments, their rating). The complainant reads their case as it was written."""
    hidden = not sees_identity(viewer, complaint.anonymous, complaint.complainant_id)
    masking = masks_phones(viewer)

    def text(value):
        if not isinstance(value, str):
            return value
        if hidden:
            value = redact_identity(value, complaint.complainant_name, complaint.complainant_id)
        return mask_phones(value) if masking else value

    for key in _FREE_TEXT:
        if key in view:
            view[key] = text(view[key])
    for line in view.get("timeline") or ():
        line["text"] = text(line["text"])
        if hidden and line["actor"] and line["actor"] in (complaint.complainant_name,
                                                          complaint.complainant_id):
            line["actor"] = ANONYMOUS_LABEL
    for record in view.get("communications") or ():
        record["with_whom"], record["summary"] = text(record["with_whom"]), text(record["summary"])
    for step in view.get("timetable") or ():
        step["title"] = text(step.get("title"))
    view["contact_phone"] = mask_contact(complaint.contact_phone)
    if hidden:
        view["complainant_id"] = view["complainant_name"] = view["contact_phone"] = None
    return view


def _call_views(session, rows) -> list[dict]:
    """Hotline calls as the office sees them, with the cases filed from each (one query)."""
    filed: dict[str, list] = {row.call_id: [] for row in rows}
    if rows:
        for complaint in session.execute(select(Complaint).where(
                Complaint.call_id.in_(list(filed))).order_by(Complaint.received_at)).scalars():
            filed[complaint.call_id].append(complaint)
    views = []
    for row in rows:
        log = json.loads(row.log)
        views.append({"call_id": row.call_id, "state": row.state,
                      "caller": str(calls.Phone(log.get("caller") or "")),
                      "operator": log.get("operator"), "answered_at": log.get("answered_at"),
                      "ended_at": log.get("ended_at"), "script": calls.PLEDGE_SCRIPT,
                      "complaints": filed[row.call_id]})
    return CallSchema(many=True).dump(views)


def _view_filter(view: str):
    return {
        "all": (),
        "inbox": (Complaint.status.in_(Status.OPEN),),
        "screened_out": (Complaint.status == Status.SCREENED_OUT,),
        "returned": (Complaint.status == Status.RETURNED,),
        "disputed": (Complaint.disputed.is_(True),),
        "redo": (Complaint.status == Status.REDO,),
        "supervised": (Complaint.round == 2,),
        "proactive": (Complaint.proactive.is_(True),),
        "unclassified": (Complaint.category.is_(None), Complaint.status.in_(Status.OPEN)),
    }[view]


def _find_filing(session, complainant_id: str, filing_key: str) -> Complaint | None:
    return session.execute(select(Complaint).where(
        Complaint.complainant_id == complainant_id, Complaint.filing_key == filing_key)
    ).scalar_one_or_none()


def _readable(session, complaint_id, viewer: Viewer) -> Complaint:
    complaint = session.get(Complaint, str(complaint_id))
    if complaint is None or not may_read(viewer, _facts(complaint)):
        raise NotFound(f"complaint {complaint_id} not found")
    return complaint


def _locked(session, complaint_id: str) -> Complaint | None:
    return session.execute(select(Complaint).where(Complaint.id == str(complaint_id))
                           .with_for_update()).scalar_one_or_none()


def _locked_or_fail(session, complaint_id: str) -> Complaint:
    complaint = _locked(session, complaint_id)
    if complaint is None:
        # Events about a case come after the case's own commit; if it is missing the event
        # is corrupt or from another installation: fail so it is retried, then parked.
        raise NotFound(f"complaint {complaint_id} is not known to intake")
    return complaint


def _append(session, complaint_id: str, line: domain.TimelineLine, at, event_id=None) -> None:
    # Added on its own, not through `complaint.timeline`, which would load every line first.
    session.add(TimelineEntry(complaint_id=complaint_id, at=at, kind=line.kind, text=line.text,
                              actor=line.actor, event_id=event_id))


def _audit(uow, complaint_id: str, actor_id: str, role: str, action: str, changes: dict):
    uow.session.add(AuditEntry(complaint_id=complaint_id, at=uow.clock.now(), actor_id=actor_id,
                               actor_role=role, action=action,
                               changes=json.dumps(changes, ensure_ascii=False, default=_iso)))


def _next_in_day(session, day) -> int:
    """The day's next sequence number, atomically: the upsert holds the day's row lock until
    commit, so concurrent filings get distinct numbers on PostgreSQL and SQLite alike."""
    statement = insert_for(session, DailyCounter.__table__).values(day=day, value=1) \
        .on_conflict_do_update(index_elements=["day"],
                               set_={"value": DailyCounter.__table__.c.value + 1}) \
        .returning(DailyCounter.__table__.c.value)
    return session.execute(statement).scalar_one()
