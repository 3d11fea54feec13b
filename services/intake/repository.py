"""Loading and saving cases (the `Case` aggregate) in a unit of work.

`save()` writes, for every case the repository handed out, the effects of the domain events
it collected (services/intake/events.py: timeline, audit, bus), in the unit of work that
changed it; the commit then stores them with the case, or nothing.
"""
from __future__ import annotations

from sqlalchemy import func, select

from services.common.db import insert_for
from services.common.errors import NotFound
from services.intake import events
from services.intake.case import Case
from services.intake.lifecycle import Communication
from services.intake.models import (Attachment, CaseLink, CommunicationRecord, Complaint,
                                    DailyCounter)


class Cases:
    def __init__(self, uow, tz: str):
        self.uow = uow
        self.session = uow.session
        self.tz = tz
        self._seen: list[Case] = []

    def _track(self, case: Case) -> Case:
        self._seen.append(case)
        return case

    def _case(self, row: Complaint | None) -> Case | None:
        if row is None:
            return None
        return self._track(Case(row, lambda: self._communications(row.id)))

    # ------------------------------------------------------------------ loading
    def locked(self, complaint_id) -> Case | None:
        """The case, locked until the commit: its changes are applied one after another."""
        return self._case(self.session.execute(
            select(Complaint).where(Complaint.id == str(complaint_id)).with_for_update()
        ).scalar_one_or_none())

    def locked_or_fail(self, complaint_id) -> Case:
        case = self.locked(complaint_id)
        if case is None:
            # Events about a case come after the case's own commit; if it is missing the event
            # is corrupt or from another installation: fail so it is retried, then parked.
            raise NotFound(f"complaint {complaint_id} is not known to intake")
        return case

    def get(self, complaint_id) -> Case | None:
        """Another case an action names (the one linked to, merged into), unlocked."""
        return self._case(self.session.get(Complaint, str(complaint_id)))

    def find_filing(self, complainant_id: str, filing_key: str) -> Complaint | None:
        return find_filing(self.session, complainant_id, filing_key)

    def _communications(self, complaint_id: str) -> list[Communication]:
        return [Communication(kind, at, round_) for kind, at, round_ in self.session.execute(
            select(CommunicationRecord.kind, CommunicationRecord.at, CommunicationRecord.round)
            .where(CommunicationRecord.complaint_id == complaint_id)).all()]

    # ------------------------------------------------------------------ adding
    def add(self, row: Complaint, at) -> Case:
        """A new case; flushed at once, so a filing key used twice fails here, before any
        of its effects is written."""
        self.session.add(row)
        self.session.flush()
        return self._track(Case.filed(row, at))

    def next_number_in_day(self, day) -> int:
        """The day's next sequence number, atomically: the upsert holds the day's row lock
        until commit, so concurrent filings get distinct numbers on PostgreSQL and SQLite."""
        table = DailyCounter.__table__
        return self.session.execute(
            insert_for(self.session, table).values(day=day, value=1)
            .on_conflict_do_update(index_elements=["day"], set_={"value": table.c.value + 1})
            .returning(table.c.value)).scalar_one()

    def add_communication(self, case: Case, recorded_by: str, recorded_at, **record) -> None:
        self.session.add(CommunicationRecord(complaint_id=case.id, round=case.row.round,
                                             recorded_by=recorded_by, recorded_at=recorded_at,
                                             **record))

    def add_link(self, case: Case, other: Case, kind: str, by: str, at) -> None:
        """Both ways; linking twice keeps the first link (merging makes it a duplicate)."""
        for a, b in ((case.id, other.id), (other.id, case.id)):
            link = CaseLink(complaint_id=a, other_id=b, kind=kind, linked_by=by, linked_at=at)
            if kind == "duplicate":
                self.session.merge(link)
            elif self.session.get(CaseLink, (a, b)) is None:
                self.session.add(link)

    def has_attachment(self, case: Case, sha256: str) -> bool:
        return self.session.get(Attachment, (case.id, sha256)) is not None

    def count_attachments(self, case: Case) -> int:
        return self.session.execute(select(func.count()).where(
            Attachment.complaint_id == case.id)).scalar()

    def add_attachment(self, case: Case, added_by: str, added_at, **attachment) -> None:
        self.session.add(Attachment(complaint_id=case.id, added_by=added_by, added_at=added_at,
                                    **attachment))

    # ------------------------------------------------------------------ saving
    def save(self) -> None:
        for case in self._seen:
            if case.events:
                events.record(self.uow, case.row, case.events, self.tz,
                              people=lambda row=case.row: complainants(self.session, row))
                case.events = []


def find_filing(session, complainant_id: str, filing_key: str) -> Complaint | None:
    return session.execute(select(Complaint).where(
        Complaint.complainant_id == complainant_id, Complaint.filing_key == filing_key)
    ).scalar_one_or_none()


def complainants(session, row: Complaint) -> list[dict]:
    """The case's complainant and those of the duplicates merged into it (they hear of it)."""
    merged = session.execute(select(Complaint.complainant_id, Complaint.complainant_name)
                             .where(Complaint.merged_into == row.id)).all()
    return [{"id": row.complainant_id, "name": row.complainant_name}] + [
        {"id": cid, "name": name} for cid, name in merged]
