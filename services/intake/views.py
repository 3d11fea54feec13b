"""Intake's reads: the case, the lists, the figures, the audit log and the hotline calls, each as
its reader may see it (X5: masked phone numbers, anonymous complainants). Functions of a
session and a query; they never change anything.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import eventlet
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.common.access import (ANONYMOUS_LABEL, ReadScope, Viewer, masks_phones, may_read,
                                    read_scope, redact_identity, sees_identity)
from services.common import metrics
from services.common.contracts import SUPERVISED_ROUND
from services.common.errors import NotFound
from services.common.privacy import mask_contact, mask_phones, masked_deep
from services.intake import calls, domain
from services.intake.case import facts_of
from services.intake.lifecycle import Status
from services.intake.models import (Attachment, AuditEntry, CaseLink, CommunicationRecord,
                                    Complaint, HotlineCall, TimelineEntry)
from services.intake.schemas import (CallSchema, CaseSummarySchema, ComplaintSchema)
from services.intake.similarity import SimilarityIndex, is_probable_duplicate

log = logging.getLogger("jiesu.intake.views")


def readable(session, complaint_id, viewer: Viewer) -> Complaint:
    """The case, or NotFound when `viewer` may not read it: nobody learns which exist."""
    complaint = session.get(Complaint, str(complaint_id))
    if complaint is None or not may_read(viewer, facts_of(complaint)):
        raise NotFound(f"complaint {complaint_id} not found")
    return complaint


# ------------------------------------------------------------------------------ the case
def complaint_view(session, complaint_id, viewer: Viewer, now, similar) -> tuple[dict, Complaint]:
    complaint = readable(session, complaint_id, viewer)
    view = with_time_left(ComplaintSchema().dump(complaint), complaint, now)
    view["communications"] = [
        {"kind": c.kind, "at": c.at.isoformat(), "with_whom": c.with_whom,
         "summary": c.summary, "round": c.round}
        for c in session.execute(select(CommunicationRecord).where(
            CommunicationRecord.complaint_id == complaint.id)
            .order_by(CommunicationRecord.at)).scalars()]
    view["attachments"] = [
        {"sha256": a.sha256, "media_type": a.media_type, "kind": a.kind, "size": a.size}
        for a in session.execute(select(Attachment).where(
            Attachment.complaint_id == complaint.id).order_by(Attachment.added_at)).scalars()]
    if viewer.is_staff:
        view["links"] = [{"other_id": link.other_id, "kind": link.kind}
                         for link in session.execute(select(CaseLink).where(
                             CaseLink.complaint_id == complaint.id)).scalars()]
        view["similar"] = similar.similar_to(session, complaint, now, viewer)
    return shown_to(view, complaint, viewer), complaint


def attachment_view(session, complaint_id, sha256, viewer: Viewer) -> dict:
    readable(session, complaint_id, viewer)
    found = session.get(Attachment, (str(complaint_id), str(sha256)))
    if found is None:
        raise NotFound("attachment not found")
    return {"sha256": found.sha256, "media_type": found.media_type, "kind": found.kind,
            "size": found.size}


def audit_view(session, complaint_id, viewer: Viewer) -> list[dict]:
    """X6: the office reads every action on a case (the numbers typed into it masked)."""
    if not viewer.has("office"):
        raise NotFound(f"complaint {complaint_id} not found")
    readable(session, complaint_id, viewer)
    return [{"at": e.at.isoformat(), "actor_id": e.actor_id, "actor_role": e.actor_role,
             "action": e.action, "changes": masked_deep(json.loads(e.changes))}
            for e in session.execute(select(AuditEntry).where(
                AuditEntry.complaint_id == str(complaint_id)).order_by(AuditEntry.id)).scalars()]


# ------------------------------------------------------------------------------ lists
def scope_filter(scope: ReadScope):
    """`ReadScope` as SQL: the cases `scope.covers`, no more, no fewer."""
    if scope.everything:
        return ()
    readable_ = [Complaint.complainant_id == scope.complainant_id]
    if scope.unit is not None:
        # An assisting unit is kept in the case's JSON list of {"id", "name"}; the id is looked
        # for exactly as json.dumps writes it (quoted and escaped), so no other text matches.
        needle = json.dumps({"id": scope.unit}, ensure_ascii=False)[1:-1]
        readable_ += [Complaint.unit_id == scope.unit, Complaint.reporter_unit_id == scope.unit,
                      Complaint.assisting_units.contains(needle, autoescape=True)]
    if scope.supervisor_id is not None:
        readable_.append(Complaint.supervisor_id == scope.supervisor_id)
    return (or_(*readable_),)


VIEWS = {
    "all": (),
    "inbox": (Complaint.status.in_(Status.OPEN),),
    "screened_out": (Complaint.status == Status.SCREENED_OUT,),
    "returned": (Complaint.status == Status.RETURNED,),
    "disputed": (Complaint.disputed.is_(True),),
    "redo": (Complaint.status == Status.REDO,),
    "supervised": (Complaint.round == SUPERVISED_ROUND,),
    "proactive": (Complaint.proactive.is_(True),),
    "unclassified": (Complaint.category.is_(None), Complaint.status.in_(Status.OPEN)),
}


def case_list(session, viewer: Viewer, query: dict, now) -> list[dict]:
    """The cases `viewer` may read (the unit's inbox, the office's views, the leader's
    supervised items, a complainant's own), filtered by view, state, category, due date."""
    statement = select(Complaint).where(*scope_filter(read_scope(viewer)),
                                        *VIEWS[query["view"]])
    if query.get("state"):
        statement = statement.where(Complaint.status == query["state"])
    if query.get("category"):
        statement = statement.where(Complaint.category == query["category"])
    if query.get("due_before"):
        statement = statement.where(Complaint.due_at <= query["due_before"])
    order = Complaint.due_at.asc().nulls_last() if query["sort"] == "due" \
        else Complaint.received_at.desc()
    rows = session.execute(statement.order_by(order).limit(query["limit"])
                           .offset(query["offset"])).scalars().all()
    return [shown_to(with_time_left(CaseSummarySchema().dump(c), c, now), c, viewer)
            for c in rows]


CLOSED = (Status.CLOSED, Status.SCREENED_OUT, Status.MERGED)


def filed_by_list(session, complainant_prefix: str, query: dict, now) -> list[dict]:
    """What one channel identity filed (an Open311 app, a WeChat user), with GeoReport's
    filters; by default the last 90 days, newest first."""
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
    if query["statuses"] == ["open"]:
        statement = statement.where(Complaint.status.not_in(CLOSED))
    elif query["statuses"] == ["closed"]:
        statement = statement.where(Complaint.status.in_(CLOSED))
    rows = session.execute(statement.order_by(Complaint.received_at.desc())
                           .limit(query["limit"])).scalars().all()
    updated = dict(session.execute(
        select(TimelineEntry.complaint_id, func.max(TimelineEntry.at))
        .where(TimelineEntry.complaint_id.in_([c.id for c in rows]))
        .group_by(TimelineEntry.complaint_id)).all()) if rows else {}
    return [dict(with_time_left(CaseSummarySchema().dump(c), c, now),
                 updated_at=updated[c.id].isoformat() if c.id in updated else None)
            for c in rows]


def unit_figures(session, unit_id: str, now, day_start=None) -> dict:
    """R13: the unit head's live view of the unit's queue. Overdue is what sla says it is
    (`sla_state`), for the cases still being handled: one replied on time is not overdue
    because its old deadline has passed since. Today's received and closed count from
    `day_start` (midnight where the university is)."""
    by_state = dict(session.execute(
        select(Complaint.status, func.count()).where(Complaint.unit_id == unit_id)
        .group_by(Complaint.status)).all())
    overdue = session.execute(select(func.count()).where(
        Complaint.unit_id == unit_id, Complaint.sla_state == "overdue",
        Complaint.status.in_(Status.OPEN - {Status.REPLIED}))).scalar()
    figures = {"unit_id": unit_id, "by_state": by_state, "overdue": overdue,
               "open": sum(n for s, n in by_state.items() if s in Status.OPEN),
               "at": now.isoformat()}
    if day_start is not None:
        figures["received_today"] = session.execute(select(func.count()).where(
            Complaint.unit_id == unit_id, Complaint.received_at >= day_start)).scalar()
        figures["closed_today"] = session.execute(
            select(func.count(func.distinct(TimelineEntry.complaint_id)))
            .join(Complaint, Complaint.id == TimelineEntry.complaint_id)
            .where(TimelineEntry.kind == "close", TimelineEntry.at >= day_start,
                   Complaint.unit_id == unit_id)).scalar()
    return figures


def backlog_gauge(find_engine) -> None:
    """jiesu_backlog{state,unit,category}: open cases, counted in intake's own table at
    scrape time (at most every 10 s), so every replica reports the same, right number.
    `find_engine()` gives intake's engine then (it may not exist yet when this is set up)."""
    def backlog():
        with find_engine().connect() as conn:
            return [((state, unit or "", category or domain.UNCLASSIFIED), n)
                    for state, unit, category, n in conn.execute(
                        select(Complaint.status, Complaint.unit_id, Complaint.category,
                               func.count()).where(Complaint.status.in_(Status.OPEN))
                        .group_by(Complaint.status, Complaint.unit_id, Complaint.category))]
    metrics.query_gauge("jiesu_backlog", "Open cases by state, unit and category",
                        ["state", "unit", "category"]).source("intake", backlog)


# ------------------------------------------------------------------------------ the hotline
def call_views(session, rows) -> list[dict]:
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


def call_list(session, query: dict) -> list[dict]:
    """Newest first; `unfiled`: the calls an operator answered and nobody has filed for yet,
    so that no caller is forgotten."""
    statement = select(HotlineCall).order_by(HotlineCall.updated_at.desc())
    if query["unfiled"]:
        statement = statement.where(
            HotlineCall.state.in_((calls.ANSWERED, calls.ENDED)),
            ~select(Complaint.id).where(Complaint.call_id == HotlineCall.call_id).exists())
    return call_views(session, session.execute(
        statement.limit(query["limit"]).offset(query["offset"])).scalars().all())


def call_view(session, call_id) -> dict:
    row = session.get(HotlineCall, str(call_id))
    if row is None:
        raise NotFound(f"call {call_id} not found")
    return call_views(session, [row])[0]


# ------------------------------------------------------------------------------ X5
def with_time_left(view: dict, complaint: Complaint, now) -> dict:
    """Seconds to the deadline (negative when overdue) while the case is being handled."""
    open_ = complaint.status in Status.OPEN and complaint.status != Status.REPLIED
    view["time_left_seconds"] = int((complaint.due_at - now).total_seconds()) \
        if complaint.due_at and open_ else None
    return view


# What people type into a case (and staff into its records): where phone numbers and an
# anonymous complainant's name can hide.
FREE_TEXT = ("title", "content", "location", "reply_text", "instruction")


def shown_to(view: dict, complaint: Complaint, viewer: Viewer) -> dict:
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

    for key in FREE_TEXT:
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


# ------------------------------------------------------------------------------ X3
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

    # While the window is first loaded in the background, let other greenthreads run this
    # often (indexing is pure Python: 100,000 cases take about 10 s of CPU).
    YIELD_EVERY = 200

    def __init__(self, window: timedelta, find_engine=None):
        self.window = window
        self.index = SimilarityIndex()
        self.loaded_until = None
        self.lock = threading.Lock()
        # With `find_engine` (intake's engine, once the container has one), the first load
        # runs in a greenthread of its own: the case views answer at once, without similar
        # cases until it is done, rather than the first one waiting past the RPC timeout.
        self.find_engine = find_engine
        self._warming = None

    def similar_to(self, session, complaint, now, viewer: Viewer, limit=5) -> list[dict]:
        """The cases most like `complaint` that `viewer` may read (the office: all of them;
        a handler must not learn of another unit's cases, not even their numbers)."""
        if self.find_engine is not None and self.loaded_until is None:
            return []   # the first load goes on in the background (`prepare` started it)
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
        readable_ = [m for m in matches if m.case_id in found
                     and (everyone or may_read(viewer, facts_of(found[m.case_id])))]
        return [{"id": m.case_id, "number": found[m.case_id].number,
                 "status": found[m.case_id].status, "score": round(m.score, 3),
                 "probable_duplicate": is_probable_duplicate(m.score)}
                for m in readable_[:limit]]

    # How long a case view waits for the first load: a small window is loaded by then, a
    # large one goes on in the background while the view answers without similar cases.
    FIRST_LOAD_WAIT = 2.0

    def prepare(self, now) -> None:
        """Before a case view opens its session: start the first load if it is not done,
        and wait a moment for it (outside the view's session: on SQLite the load needs the
        process's one connection)."""
        if self.loaded_until is not None or self.find_engine is None:
            return
        if self._warming is None:
            self._warming = eventlet.spawn(self._warm, now)
        with eventlet.Timeout(self.FIRST_LOAD_WAIT, False):
            self._warming.wait()

    def _warm(self, now):
        try:
            with Session(self.find_engine()) as session, self.lock:
                self._catch_up(session, now, yield_every=self.YIELD_EVERY)
        except Exception:   # the view goes on without similar cases; the next one retries
            log.exception("loading the similar cases' index failed")
            self._warming = None

    def _catch_up(self, session, now, yield_every: int = 0):
        since = self.loaded_until - self.OVERLAP if self.loaded_until else now - self.window
        rows = session.execute(select(Complaint.id, Complaint.title, Complaint.content,
                                      Complaint.category, Complaint.received_at)
                               .where(Complaint.received_at > since,
                                      Complaint.status != Status.MERGED)
                               .order_by(Complaint.received_at)).all()
        for number, row in enumerate(rows):
            if yield_every and number % yield_every == 0:
                eventlet.sleep(0)
            if row.id not in self.index:
                self.index.add(row.id, f"{row.title or ''} {row.content}", row.category,
                               row.received_at)
        if rows:
            self.loaded_until = rows[-1].received_at
        elif self.loaded_until is None:
            self.loaded_until = since
        self.index.prune(now - self.window)
