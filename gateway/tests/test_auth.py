import time

import jwt
import pytest

from gateway.auth import Principal, Unauthorized, issue_token, principal_from

SECRET = "test-secret-0123456789abcdef0123456789"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_valid_token_gives_the_principal():
    token = issue_token(SECRET, "s2023001", "张三", roles=("complainant", "student"))

    principal = principal_from(bearer(token), SECRET)

    assert principal == Principal("s2023001", "张三", ("complainant", "student"))
    assert principal.as_rpc() == {"id": "s2023001", "name": "张三",
                                  "roles": ["complainant", "student"], "unit": None,
                                  "college": None}


def test_staff_claims_carry_the_unit():
    token = issue_token(SECRET, "u-hqc-1", "冯涛", roles=("handler",), unit="logistics")

    principal = principal_from(bearer(token), SECRET)

    assert principal.unit == "logistics" and principal.is_staff
    assert principal.as_complainant()["roles"] == ["complainant"]


def test_a_single_role_may_arrive_as_a_string():
    token = jwt.encode({"sub": "t001", "roles": "handler", "exp": int(time.time()) + 60},
                       SECRET, algorithm="HS256")

    assert principal_from(bearer(token), SECRET).roles == ("handler",)


def test_name_and_roles_are_optional():
    token = jwt.encode({"sub": "s2023001"}, SECRET, algorithm="HS256")

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
    token = jwt.encode({"name": "张三", "roles": ["complainant"],
                        "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")

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
                          "exp": 4_102_444_800}, private, algorithm="RS256")

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
    token = pyjwt.encode({"sub": "s1", "exp": 4_102_444_800}, other, algorithm="RS256")
    with pytest.raises(Unauthorized):
        principal_from(bearer(token), SECRET, public_key=public)
