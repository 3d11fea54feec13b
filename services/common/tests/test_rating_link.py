"""The SMS 回访 link's token (services/common/rating_link.py): what notify signs the gateway
accepts until it expires, and nothing else."""
from datetime import datetime, timezone

import pytest

from services.common import rating_link
from services.common.rating_link import BadToken, rating_url, sign, verify
from services.common.settings import Settings

SECRET = "rating-link-test-secret"
NOW = 1_800_000_000


def test_a_signed_token_names_the_case_and_the_complainant():
    token = sign(SECRET, "c-1", "hotline:3f2a", NOW + 60)
    assert verify(SECRET, token, NOW) == ("c-1", "hotline:3f2a")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789-_.")     # safe in a URL path and an SMS


def test_an_expired_token_is_refused_as_expired():
    token = sign(SECRET, "c-1", "hotline:3f2a", NOW + 60)
    with pytest.raises(BadToken) as refused:
        verify(SECRET, token, NOW + 60)
    assert refused.value.reason == "expired"


def _altered(token):
    payload, mac = token.split(".")
    other = sign(SECRET, "c-2", "hotline:3f2a", NOW + 60).split(".")[0]
    return [other + "." + mac, payload + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"),
            payload, payload + "." + mac + ".x", "", "." * 3, "é." + mac, "a" * 500 + "." + mac]


@pytest.mark.parametrize("index", range(8))
def test_an_altered_or_foreign_token_is_invalid(index):
    token = sign(SECRET, "c-1", "hotline:3f2a", NOW + 60)
    with pytest.raises(BadToken) as refused:
        verify(SECRET, _altered(token)[index], NOW)
    assert refused.value.reason == "invalid"
    with pytest.raises(BadToken):
        verify("another-secret", token, NOW)
    with pytest.raises(BadToken):
        verify("", token, NOW)


def test_a_well_signed_payload_of_the_wrong_shape_is_invalid():
    payload = rating_link._b64(b'{"complaint": "c-1"}')
    with pytest.raises(BadToken):
        verify(SECRET, f"{payload}.{rating_link._mac(SECRET, payload)}", NOW)


def test_the_url_runs_from_the_reply_and_needs_both_settings():
    replied = datetime.fromtimestamp(NOW, timezone.utc)
    settings = Settings(public_base_url="https://jiesu.example.edu.cn/",
                        rating_link_secret=SECRET)
    url = rating_url(settings, "c-1", "hotline:3f2a", replied)
    assert url.startswith("https://jiesu.example.edu.cn/h5/t/")   # the H5's case page
    assert rating_url(settings, "c-1", "hotline:3f2a", replied, rating_link.RATING_PAGE) \
        .startswith("https://jiesu.example.edu.cn/r/")
    token = url.rsplit("/", 1)[1]
    assert verify(SECRET, token, NOW + rating_link.LINK_DAYS * 86400 - 1)[0] == "c-1"
    with pytest.raises(BadToken):
        verify(SECRET, token, NOW + rating_link.LINK_DAYS * 86400)
    assert rating_url(settings, "c-1", "hotline:3f2a", replied) == url   # resent: the same
    assert rating_url(Settings(rating_link_secret=SECRET), "c-1", "p", replied) is None
    assert rating_url(Settings(public_base_url="https://x"), "c-1", "p", replied) is None
