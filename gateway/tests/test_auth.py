import time

import jwt
import pytest

from gateway.auth import Principal, Unauthorized, issue_token, principal_from

SECRET = "test-secret-0123456789abcdef0123456789"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def lifetime(seconds: int, issued_ago: int = 0) -> dict:
    issued = int(time.time()) - issued_ago
    return {"iat": issued, "exp": issued + seconds}


def signed(**claims) -> str:
    return bearer(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_a_valid_token_gives_the_principal():
    token = issue_token(SECRET, "s2023001", "张三", roles=("complainant",))

    principal = principal_from(bearer(token), SECRET)

    assert principal == Principal("s2023001", "张三", ("complainant",))
    assert principal.as_rpc() == {"id": "s2023001", "name": "张三",
                                  "roles": ["complainant"], "unit": None, "college": None}


def test_staff_claims_carry_the_unit():
    token = issue_token(SECRET, "u-hqc-1", "冯涛", roles=("handler",), unit="logistics")

    principal = principal_from(bearer(token), SECRET)

    assert principal.unit == "logistics" and principal.is_staff
    assert principal.as_complainant()["roles"] == ["complainant"]


def test_a_single_role_may_arrive_as_a_string():
    token = jwt.encode({"sub": "t001", "roles": "handler", **lifetime(60)}, SECRET,
                       algorithm="HS256")

    assert principal_from(bearer(token), SECRET).roles == ("handler",)


def test_name_and_roles_are_optional():
    token = jwt.encode({"sub": "s2023001", **lifetime(60)}, SECRET, algorithm="HS256")

    assert principal_from(bearer(token), SECRET) == Principal("s2023001", None, ())


def test_the_scheme_is_case_insensitive():
    token = issue_token(SECRET, "s2023001")

    assert principal_from(f"bearer {token}", SECRET).id == "s2023001"


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_header_is_refused(header):
    with pytest.raises(Unauthorized, match="missing"):
        principal_from(header, SECRET)


@pytest.mark.parametrize("header", ["Basic czIwMjMwMDE6cHc=", "Bearer", "Bearer   ",
                                    "Token abc.def.ghi"])
def test_another_scheme_or_no_token_is_refused(header):
    with pytest.raises(Unauthorized, match="Bearer"):
        principal_from(header, SECRET)


def test_a_token_signed_with_another_secret_is_refused():
    token = issue_token("someone-elses-secret-0123456789abcdef", "s2023001")

    with pytest.raises(Unauthorized, match="invalid"):
        principal_from(bearer(token), SECRET)


def test_a_tampered_token_is_refused():
    header, payload, signature = issue_token(SECRET, "s2023001").split(".")
    forged = jwt.encode({"sub": "admin"}, "x" * 32, algorithm="HS256").split(".")[1]

    with pytest.raises(Unauthorized):
        principal_from(bearer(f"{header}.{forged}.{signature}"), SECRET)


def test_an_unsigned_token_is_refused():
    token = jwt.encode({"sub": "admin"}, None, algorithm="none")

    with pytest.raises(Unauthorized):
        principal_from(bearer(token), SECRET)


def test_garbage_is_refused():
    with pytest.raises(Unauthorized):
        principal_from(bearer("not-a-jwt"), SECRET)


def test_an_expired_token_is_refused():
    token = issue_token(SECRET, "s2023001", expires_in=3600, now=int(time.time()) - 7200)

    with pytest.raises(Unauthorized, match="expired"):
        principal_from(bearer(token), SECRET, leeway=30)


def test_a_token_just_past_expiry_is_accepted_within_the_leeway():
    # Clocks of the identity provider and the gateway are never quite in step.
    token = issue_token(SECRET, "s2023001", expires_in=3600, now=int(time.time()) - 3600 - 5)

    assert principal_from(bearer(token), SECRET, leeway=300).id == "s2023001"


def test_a_token_without_a_subject_is_refused():
    token = jwt.encode({"name": "张三", "roles": ["complainant"], **lifetime(60)}, SECRET,
                       algorithm="HS256")

    with pytest.raises(Unauthorized, match="sub"):
        principal_from(bearer(token), SECRET)


# ---------------------------------------------------------------------------------- RS256
def _rsa_pair():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_an_rs256_token_from_the_identity_provider_is_accepted():
    import jwt as pyjwt

    private, public = _rsa_pair()
    token = pyjwt.encode({"sub": "s2023001", "name": "张三", "roles": ["complainant"],
                          **lifetime(600)}, private, algorithm="RS256")

    principal = principal_from(bearer(token), SECRET, public_key=public)

    assert principal.id == "s2023001"


def test_with_a_public_key_an_hs256_token_is_refused():
    # Otherwise a token signed with the (shared, weaker) secret would still be let in.
    _, public = _rsa_pair()
    with pytest.raises(Unauthorized):
        principal_from(bearer(issue_token(SECRET, "s1")), SECRET, public_key=public)


def test_an_rs256_token_signed_by_someone_else_is_refused():
    import jwt as pyjwt

    _, public = _rsa_pair()
    other, _ = _rsa_pair()
    token = pyjwt.encode({"sub": "s1", **lifetime(600)}, other, algorithm="RS256")
    with pytest.raises(Unauthorized):
        principal_from(bearer(token), SECRET, public_key=public)


# ------------------------------------------------------------ issue 10: points 7 and 8
@pytest.mark.parametrize("missing", ["exp", "iat"])
def test_a_token_without_exp_or_iat_is_refused(missing):
    claims = {"sub": "s2023001", "roles": ["complainant"], **lifetime(600)}
    del claims[missing]

    with pytest.raises(Unauthorized, match=missing):
        principal_from(signed(**claims), SECRET)


def test_a_token_living_longer_than_the_cap_is_refused():
    far = signed(sub="s2023001", roles=["complainant"], **lifetime(12 * 3600 + 1))
    with pytest.raises(Unauthorized, match="lifetime"):
        principal_from(far, SECRET, max_lifetime=12 * 3600)
    # at the cap it is accepted, and the cap is a setting
    assert principal_from(signed(sub="s1", **lifetime(12 * 3600)), SECRET,
                          max_lifetime=12 * 3600).id == "s1"
    with pytest.raises(Unauthorized, match="lifetime"):
        principal_from(signed(sub="s1", **lifetime(3600)), SECRET, max_lifetime=1800)


def test_a_token_issued_in_the_future_is_refused():
    with pytest.raises(Unauthorized):
        principal_from(signed(sub="s1", **lifetime(600, issued_ago=-3600)), SECRET)


def test_exp_and_iat_given_as_text_are_refused_not_a_crash():
    issued = int(time.time())
    with pytest.raises(Unauthorized):
        principal_from(signed(sub="s1", iat=str(issued), exp=str(issued + 60)), SECRET)


@pytest.mark.parametrize("roles", [5, ["admin"], ["complainant", "root"], [5], [None],
                                   [["office"]], {"office": True}, "superuser"])
def test_roles_must_be_a_list_of_known_roles(roles):
    with pytest.raises(Unauthorized, match="roles"):
        principal_from(signed(sub="s1", roles=roles, **lifetime(600)), SECRET)


@pytest.mark.parametrize("roles", [["complainant"], ["handler", "head"], ["office"],
                                   ["leader"], [], None])
def test_every_known_role_is_accepted(roles):
    principal = principal_from(signed(sub="s1", roles=roles, **lifetime(600)), SECRET)
    assert principal.roles == tuple(roles or ())


@pytest.mark.parametrize("claim, value", [("name", {"first": "张"}), ("unit", ["logistics"]),
                                          ("college", 7),
                                          pytest.param("name", "张" * 500, id="name-long")])
def test_identity_claims_must_be_short_strings(claim, value):
    with pytest.raises(Unauthorized, match=claim):
        principal_from(signed(sub="s1", roles=["handler"], **{claim: value}, **lifetime(600)),
                       SECRET)


def test_the_issuer_is_checked_when_configured():
    ours = signed(sub="s1", iss="https://idp.example.edu", **lifetime(600))
    theirs = signed(sub="s1", iss="https://evil.example.com", **lifetime(600))
    none = signed(sub="s1", **lifetime(600))

    assert principal_from(ours, SECRET, issuer="https://idp.example.edu").id == "s1"
    for token in (theirs, none):
        with pytest.raises(Unauthorized, match="(?i)iss"):
            principal_from(token, SECRET, issuer="https://idp.example.edu")
    assert principal_from(theirs, SECRET, issuer="").id == "s1"  # empty: not checked


def test_the_audience_is_checked_when_configured():
    ours = signed(sub="s1", aud="jiesu", **lifetime(600))
    both = signed(sub="s1", aud=["portal", "jiesu"], **lifetime(600))
    theirs = signed(sub="s1", aud="portal", **lifetime(600))
    none = signed(sub="s1", **lifetime(600))

    assert principal_from(ours, SECRET, audience="jiesu").id == "s1"
    assert principal_from(both, SECRET, audience="jiesu").id == "s1"
    for token in (theirs, none):
        with pytest.raises(Unauthorized, match="(?i)aud"):
            principal_from(token, SECRET, audience="jiesu")
    assert principal_from(theirs, SECRET, audience="").id == "s1"  # empty: not checked


def test_issued_tokens_carry_exp_and_iat_within_the_cap():
    claims = jwt.decode(issue_token(SECRET, "s1"), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] <= 12 * 3600
