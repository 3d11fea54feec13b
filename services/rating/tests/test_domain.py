"""R9: 不满意 once → 发回重办, 不满意 again → 督办; satisfied or basically satisfied closes."""
import pytest

from services.rating.domain import decide


@pytest.mark.parametrize("level, round_, decision", [
    ("satisfied", 0, "close"),
    ("basically", 0, "close"),
    ("dissatisfied", 0, "order_redo"),
    ("satisfied", 1, "close"),
    ("dissatisfied", 1, "supervise"),
    ("dissatisfied", 2, "close"),   # after 督办 the case closes; the rating still counts
    ("basically", 2, "close"),
])
def test_two_strikes(level, round_, decision):
    assert decide(level, round_) == decision


def test_an_unknown_level_is_an_error():
    with pytest.raises(ValueError):
        decide("meh", 0)
