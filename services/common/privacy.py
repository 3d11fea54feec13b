"""X5: phone numbers in what staff read and in the logs, masked.

`mask_phones` finds mainland mobiles (13655554321, 136 5555 4321, 136-5555-4321, +86 …,
0086 …) and landlines with their area code (0531-88117897, 0531 88117897, (0531)88117897,
010-12345678, 053188117897) in free text and keeps only what identifies no one: the
mobile's first three and last four digits (136****4321), the landline's area code and last
four (0531-****7897).

The boundaries are what keep other numbers intact: a phone is not glued to a letter, a digit,
an underscore, a dot followed by a digit, or a word-and-hyphen before it, so case numbers
(JS-20261201-0001), ids (UUIDs, student numbers), timestamps and amounts pass unchanged
(services/common/tests/test_privacy.py lists them). Every quantifier is bounded and none is
nested, so a match attempt costs a constant at each position: linear in the text, whatever
it is.

Full-width digits and signs (what a Chinese IME types) are matched as their ASCII forms, one
character for one, so positions still line up with the original text.
"""
from __future__ import annotations

import re

_FULL_WIDTH = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)},
                             "＋": "+", "－": "-", "（": "(", "）": ")", "\u3000": " "})
_ANY_FULL_WIDTH = re.compile("[\uff10-\uff19＋－（）\u3000]")

# Not glued to the word or number before it (a letter, digit, underscore or a decimal
# point; or a word joined by a hyphen: x-13655554321, JS-2026…), nor to what follows.
_BEFORE = r"(?<![0-9A-Za-z_.])(?<![0-9A-Za-z]-)"
_AFTER = r"(?![0-9A-Za-z_])(?!\.[0-9])"
_AREA = r"0[12][0-9]|0[3-9][0-9]{2}"
_PHONE = re.compile(
    # (a phone starts with a digit, + or a bracket: the lookahead lets the engine skip other
    # characters at once instead of trying the lookbehinds at each; six times faster on prose)
    r"(?=[0-9+(])" + _BEFORE + r"(?:"
    # a mobile: an optional country code (or the 0 dialled before it from a landline),
    # then 3-4-4 digits, spaces or hyphens between
    r"(?P<cc>(?:\+|00)?86[ -]?|0)?(?P<head>1[3-9][0-9])[ -]?[0-9]{4}[ -]?(?P<tail>[0-9]{4})"
    r"|"
    # a landline: the area code, maybe in brackets (010 and 02x have three digits, the
    # others four, so 01012345678 splits one way only), then seven or eight digits
    r"(?:\((?P<pa>" + _AREA + r")\) ?|(?P<area>" + _AREA + r")[ -]?)[0-9]{3,4}(?P<last>[0-9]{4})"
    r")" + _AFTER,
    re.ASCII)


def _masked(match: re.Match) -> str:
    if match["head"]:
        return f"{match['cc'] or ''}{match['head']}****{match['tail']}"
    return f"{match['pa'] or match['area']}-****{match['last']}"


def mask_phones(text: str) -> str:
    """`text` with every mainland mobile and landline in it masked (see the module doc)."""
    if not text:
        return text
    ascii_form = text.translate(_FULL_WIDTH) if _ANY_FULL_WIDTH.search(text) else text
    pieces, done = [], 0
    for match in _PHONE.finditer(ascii_form):
        pieces += [text[done:match.start()], _masked(match)]
        done = match.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def mask_number(number) -> str:
    """A value known to be a phone, masked whatever its form (the last four digits kept):
    `13912345678` → `139****5678`, `053188117897` → `053*****7897`, `88117897` → `****7897`."""
    text = str(number or "").strip()
    if len(text) >= 11:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if len(text) >= 7:
        return "*" * (len(text) - 4) + text[-4:]
    return "*" * len(text)


def mask_contact(number: str | None) -> str | None:
    """A contact phone as staff see it: masked like free text when it is a mainland number,
    else by `mask_number` (never shown whole by accident)."""
    if not number:
        return None
    masked = mask_phones(number)
    return masked if masked != number else mask_number(number)


def masked_deep(value):
    """Every string in a JSON-like value (dicts, lists, tuples) masked; tuples become lists."""
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {key: masked_deep(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked_deep(item) for item in value]
    return value
