"""Who may read and act on a case; everyone else gets "no such case"."""
import pytest

from services.common.access import CaseFacts, Viewer, may_act, may_read, sees_identity

CASE = CaseFacts(complainant_id="s1", unit_id="logistics", assisting_unit_ids=("security",),
                 supervisor_id="l-1")
OWNER = Viewer("s1", roles=("complainant",))
STRANGER = Viewer("s2", roles=("complainant",))
HANDLER = Viewer("h1", roles=("handler",), unit="logistics")
OTHER_HANDLER = Viewer("h2", roles=("handler",), unit="finance")
ASSISTING = Viewer("h3", roles=("handler",), unit="security")
HEAD = Viewer("hd", roles=("head",), unit="logistics")
OFFICE = Viewer("o1", roles=("office",))
LEADER = Viewer("l-1", roles=("leader",))
OTHER_LEADER = Viewer("l-2", roles=("leader",))


@pytest.mark.parametrize("viewer, allowed", [
    (OWNER, True), (STRANGER, False), (HANDLER, True), (OTHER_HANDLER, False),
    (ASSISTING, True), (HEAD, True), (OFFICE, True), (LEADER, True), (OTHER_LEADER, False)])
def test_who_may_read(viewer, allowed):
    assert may_read(viewer, CASE) is allowed


@pytest.mark.parametrize("viewer, action, allowed", [
    (HANDLER, "sign_for", True), (HEAD, "reply", True), (ASSISTING, "reply", False),
    (OTHER_HANDLER, "sign_for", False), (OWNER, "sign_for", False),
    (OFFICE, "dispatch", True), (HANDLER, "dispatch", False), (OFFICE, "screen_out", True),
    (LEADER, "instruct", True), (OTHER_LEADER, "instruct", False), (OFFICE, "instruct", False),
    (OFFICE, "merge", True), (HEAD, "merge", False)])
def test_who_may_act(viewer, action, allowed):
    assert may_act(viewer, action, CASE) is allowed


def test_anonymity_hides_the_complainant_from_the_unit_not_from_the_office():
    assert sees_identity(HANDLER, anonymous=True, complainant_id="s1") is False
    assert sees_identity(OFFICE, anonymous=True, complainant_id="s1") is True
    assert sees_identity(OWNER, anonymous=True, complainant_id="s1") is True
    assert sees_identity(HANDLER, anonymous=False, complainant_id="s1") is True


def test_an_anonymous_complainants_name_and_id_are_redacted_from_text():
    from services.common.access import ANONYMOUS_LABEL, redact_identity

    assert redact_identity("我是欧阳明月,学号 s-2025-7788", "欧阳明月", "s-2025-7788") == \
        f"我是{ANONYMOUS_LABEL},学号 {ANONYMOUS_LABEL}"
    assert redact_identity("王五反映", "王", "s1") == "王五反映"  # one letter: no
    assert redact_identity("nothing", None, "s-2025-7788") == "nothing"


def test_staff_read_phones_masked_and_only_the_office_asks_for_the_contact_phone():
    from services.common.access import masks_phones, reveals_contact_phone

    assert masks_phones(HANDLER) and masks_phones(OFFICE) and not masks_phones(OWNER)
    assert reveals_contact_phone(OFFICE, True) and not reveals_contact_phone(OFFICE, False)
    assert not reveals_contact_phone(HANDLER, True) and not reveals_contact_phone(OWNER, True)
