"""The CTI call event contract that the gateway's webhook and intake both load events with."""
import pytest
from marshmallow import ValidationError

from services.common.cti import CallEventSchema, Phone, event_from

RINGING = {"event_id": "e1", "call_id": "c-1", "type": "ringing",
           "at": "2026-03-02T10:00:00+08:00", "caller": "139-1234 5678"}


def test_an_event_round_trips_through_its_payload():
    event = event_from(CallEventSchema().load(dict(RINGING, vendor_field="dropped")))
    assert event.caller == Phone("13912345678")          # normalised: digits only
    assert event.at.utcoffset().total_seconds() == 0      # Moment: given back in UTC
    again = event_from(CallEventSchema().load(event.as_payload()))
    assert again == event


def test_the_caller_is_masked_wherever_the_event_is_shown():
    event = event_from(CallEventSchema().load(RINGING))
    for text in (repr(event), str(event), str(event.caller)):
        assert "13912345678" not in text
    assert str(Phone("053188117897")) == "0531-****7897"


@pytest.mark.parametrize("changes, field", [
    ({"type": "answered"}, "operator"),
    ({"type": "ended", "operator": "op-1"}, "duration_seconds"),
    ({"type": "voicemail"}, "recording_url"),
    ({"type": "transferred"}, "type"),
    ({"caller": "13912345678\n"}, "caller"),
    ({"event_id": "e1\u0000"}, "event_id"),
    ({"at": "2026-03-02T10:00:00"}, "at"),
    ({"type": "ended", "operator": "op-1", "duration_seconds": 86_401}, "duration_seconds"),
])
def test_what_no_call_centre_sends_is_refused(changes, field):
    with pytest.raises(ValidationError) as refused:
        CallEventSchema().load(dict(RINGING, **changes))
    assert field in refused.value.messages
