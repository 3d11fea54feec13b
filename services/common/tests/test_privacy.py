"""X5: phone numbers typed anywhere are masked for staff and in logs; nothing else is."""
import time

import pytest

from services.common.privacy import mask_contact, mask_phones, masked_deep


@pytest.mark.parametrize("text, expected", [
    # mainland mobiles, however they are typed
    ("13655554321", "136****4321"),
    ("请回电13655554321谢谢", "请回电136****4321谢谢"),
    ("136 5555 4321", "136****4321"),
    ("136-5555-4321", "136****4321"),
    ("1365555-4321", "136****4321"),
    ("+86 13655554321", "+86 136****4321"),
    ("+8613655554321", "+86136****4321"),
    ("+86-136-5555-4321", "+86-136****4321"),
    ("0086 13655554321", "0086 136****4321"),
    ("013655554321", "0136****4321"),          # the 0 dialled before a mobile
    ("020-87654321", "020-****4321"),
    ("电话:13655554321。", "电话:136****4321。"),
    ("a 13912345678, b 15000001111", "a 139****5678, b 150****1111"),
    ("“13655554321”", "“136****4321”"),
    ("(13655554321)", "(136****4321)"),
    ("１３６５５５５４３２１", "136****4321"),  # typed with a full-width IME
    # landlines with their area code
    ("0531-88117897", "0531-****7897"),
    ("0531 88117897", "0531-****7897"),
    ("053188117897", "0531-****7897"),
    ("(0531)88117897", "0531-****7897"),
    ("(0531) 88117897", "0531-****7897"),
    ("（0531）88117897", "0531-****7897"),
    ("010-12345678", "010-****5678"),
    ("01012345678", "010-****5678"),
    ("0531-8811789", "0531-****1789"),      # the older seven-digit local numbers
    ("热线0531-88117897转8001", "热线0531-****7897转8001"),
    ("0531-88117897-8001", "0531-****7897-8001"),  # an extension is not the person
    ("座机:0531-88117897,手机 13655554321",
     "座机:0531-****7897,手机 136****4321"),
    ('{"contact_phone": "0531-88117897"}', '{"contact_phone": "0531-****7897"}'),
    ("[parameters: ('13655554321', 'x')]", "[parameters: ('136****4321', 'x')]"),
])
def test_phones_are_masked_in_free_text(text, expected):
    assert mask_phones(text) == expected


@pytest.mark.parametrize("text", [
    "JS-20261201-0001",                        # case numbers (complaint_number's format)
    "JS20261201-0001",
    "JS-20260531-0881",
    "诉求 JS-20261124-0007 已受理",
    "3f2a9c1e-1365-5554-3210-053188117897",    # ids
    "e1365555-4321-4abc-8def-0123456789ab",
    "s-2023001234",
    "student 2023001234",
    "139123456789",                            # twelve digits: not a phone
    "813912345678",
    "12912345678",                             # no mobile number starts with 12
    "2026-12-01T09:30:00+08:00",               # timestamps
    "20261201093000",
    "1733029800",
    "1733029800123",
    "金额 13,655,554.32 元",                    # amounts
    "0.13655554321",
    "13655554321.5",
    "学费 5000 元,住宿费 1200 元",
    "88117897",                                # a local number without its area code
    "0531",
    "第0531号文件",
    "abc13655554321",                          # part of a longer token
    "13655554321abc",
    "x-13655554321",
    "136****4321",                             # already masked: stays as it is
    "0531-****7897",
])
def test_other_numbers_are_left_alone(text):
    assert mask_phones(text) == text


def test_masking_twice_changes_nothing_more():
    once = mask_phones("13655554321 / 0531-88117897")
    assert mask_phones(once) == once


def test_a_contact_phone_is_masked_whatever_its_form():
    assert mask_contact("13912345678") == "139****5678"
    assert mask_contact("0531-88117897") == "0531-****7897"
    assert mask_contact("053188117897") == "0531-****7897"
    assert mask_contact("5551234") == "***1234"   # not a mainland number: still masked
    assert mask_contact(None) is None
    assert mask_contact("") is None


def test_masked_deep_masks_every_string_in_a_structure():
    value = {"summary": "回电 13655554321", "n": 3, "items": ["0531-88117897", None, True],
             "nested": {"text": ("x", "13912345678")}}
    assert masked_deep(value) == {"summary": "回电 136****4321", "n": 3,
                                  "items": ["0531-****7897", None, True],
                                  "nested": {"text": ["x", "139****5678"]}}


@pytest.mark.parametrize("text", [
    "1" * 100_000,
    "13" * 50_000,
    "0531-" * 20_000,
    "136 " * 25_000,
    "1365555432" * 10_000,
    "(0" * 50_000,
    "+86 " * 25_000,
    "１" * 100_000,
    ("13655554321 " * 8_000),
])
def test_adversarial_inputs_stay_linear(text):
    # Bounded quantifiers only (no nesting), so a long input costs one pass; the bound is
    # generous: it catches a quadratic pattern (seconds), not a slow machine.
    started = time.perf_counter()
    mask_phones(text)
    assert time.perf_counter() - started < 1.0
