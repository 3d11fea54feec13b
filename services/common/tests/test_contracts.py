from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.common.contracts import ContractError, build_event, load_event

AT = datetime(2026, 11, 24, 9, 15, tzinfo=ZoneInfo("Asia/Shanghai"))


def assigned(**overrides):
    body = dict(number="JS-20261124-0001", category="logistics", grade="general",
                unit={"id": "logistics", "name": "后勤管理处"},
                handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=AT)
    body.update(overrides)
    return body


def test_build_event_wraps_the_body_in_an_envelope():
    event = build_event("complaint_assigned", "c-1", AT, correlation_id="corr-1", **assigned())

    assert len(event["event_id"]) == 36
    assert event["event_type"] == "complaint_assigned"
    assert event["version"] == 1
    assert event["complaint_id"] == "c-1"
    assert event["correlation_id"] == "corr-1"
    assert event["occurred_at"] == "2026-11-24T09:15:00+08:00"
    assert datetime.fromisoformat(event["occurred_at"]).utcoffset() == timedelta(hours=8)
    assert event["unit"] == {"id": "logistics", "name": "后勤管理处"}


def test_every_event_gets_its_own_id():
    first = build_event("complaint_assigned", "c-1", AT, **assigned())
    second = build_event("complaint_assigned", "c-1", AT, **assigned())

    assert first["event_id"] != second["event_id"]


def test_build_event_refuses_a_body_missing_a_required_field():
    body = assigned()
    del body["handler"]

    with pytest.raises(ContractError, match="handler"):
        build_event("complaint_assigned", "c-1", AT, **body)


def test_build_event_refuses_a_value_outside_the_contract():
    with pytest.raises(ContractError, match="grade"):
        build_event("complaint_assigned", "c-1", AT, **assigned(grade="urgent"))


def test_build_event_refuses_a_naive_time():
    # A time without a zone means different instants to different services.
    with pytest.raises(ContractError):
        build_event("complaint_assigned", "c-1", datetime(2026, 11, 24, 9, 15), **assigned())


def test_build_event_refuses_an_unknown_event_type():
    with pytest.raises(ContractError):
        build_event("complaint_teleported", "c-1", AT)


def test_a_built_event_loads_back_with_aware_datetimes():
    wire = build_event("complaint_assigned", "c-1", AT, **assigned())

    event = load_event("complaint_assigned", wire)

    assert event["occurred_at"] == AT
    assert event["received_at"] == AT
    assert event["occurred_at"].tzinfo is not None
    assert event["handler"] == {"id": "u-hqc-1", "name": "冯涛"}


def test_load_refuses_an_unknown_version():
    wire = build_event("complaint_assigned", "c-1", AT, **assigned())

    with pytest.raises(ContractError, match="version"):
        load_event("complaint_assigned", dict(wire, version=99))


def test_load_refuses_an_unknown_event_type():
    wire = build_event("complaint_assigned", "c-1", AT, **assigned())

    with pytest.raises(ContractError):
        load_event("complaint_escalated", wire)


def test_load_refuses_a_payload_missing_a_required_field():
    wire = build_event("complaint_assigned", "c-1", AT, **assigned())
    del wire["number"]

    with pytest.raises(ContractError, match="number"):
        load_event("complaint_assigned", wire)


def test_load_ignores_fields_a_newer_producer_added():
    wire = build_event("complaint_assigned", "c-1", AT, **assigned())

    event = load_event("complaint_assigned", dict(wire, priority="high"))

    assert "priority" not in event
    assert event["number"] == "JS-20261124-0001"


def test_load_ignores_fields_a_newer_producer_added_inside_a_nested_object():
    wire = build_event("complaint_assigned", "c-1", AT, **assigned())
    wire["unit"] = dict(wire["unit"], kind="department")

    event = load_event("complaint_assigned", wire)

    assert event["unit"]["id"] == "logistics"


def test_an_event_loaded_keeps_its_utc_offset_meaning():
    wire = build_event("deadline_set", "c-1", datetime(2026, 11, 24, 1, 15, tzinfo=timezone.utc),
                       grade="simple", starts_at=AT, due_at=AT + timedelta(hours=2))

    event = load_event("deadline_set", wire)

    assert event["due_at"] - event["starts_at"] == timedelta(hours=2)
    assert event["occurred_at"] == AT
