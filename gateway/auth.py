"""Who is calling: a bearer JWT from the campus identity provider (HS256 with the shared
secret JIESU_JWT_SECRET, or RS256 with its public key; claims `sub`, `iat`, `exp`, `name`,
`roles`, and `unit` for staff or `college` for students).

A token is short-lived and says who issued it: `exp` and `iat` are required and the one may
follow the other by at most `jwt_max_lifetime_seconds`; `iss` and `aud` are checked when
`jwt_issuer` / `jwt_audience` are set. Its roles come from the services' vocabulary."""
from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from services.common.access import STAFF_ROLES


class Unauthorized(Exception):
    pass


KNOWN_ROLES = ("complainant", *STAFF_ROLES)
MAX_LIFETIME_SECONDS = 12 * 3600
MAX_CLAIM_LENGTH = 128   # a name, a unit or a college id; longer is not an identity provider's


@dataclass(frozen=True)
class Principal:
    id: str
    name: str | None
    roles: tuple[str, ...]
    unit: str | None = None      # staff: the unit they work in
    college: str | None = None   # students: their 二级学院

    def as_rpc(self) -> dict:
        return {"id": self.id, "name": self.name, "roles": list(self.roles), "unit": self.unit,
                "college": self.college}

    def as_complainant(self) -> dict:
        """The same person acting as a complainant (their own cases only)."""
        return dict(self.as_rpc(), roles=["complainant"])

    @property
    def is_staff(self) -> bool:
        return any(role in STAFF_ROLES for role in self.roles)


def principal_from(authorization: str | None, secret: str, leeway: int = 30,
                   public_key: str | None = None, max_lifetime: int = MAX_LIFETIME_SECONDS,
                   issuer: str = "", audience: str = "") -> Principal:
    """The caller, from a bearer JWT signed by the campus identity provider: HS256 with the
    shared secret, or RS256 when a public key is configured (then only RS256 is accepted,
    so a token cannot pick the weaker scheme)."""
    if not authorization:
        raise Unauthorized("缺少登录凭证 (missing bearer token)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("登录凭证格式错误 (expected 'Authorization: Bearer <token>')")
    key, algorithms = (public_key, ["RS256"]) if public_key else (secret, ["HS256"])
    try:
        claims = jwt.decode(token.strip(), key, algorithms=algorithms, leeway=leeway,
                            issuer=issuer or None, audience=audience or None,
                            options={"require": ["exp", "iat", "sub"] + (["iss"] if issuer
                                                                         else []),
                                     "verify_aud": bool(audience)})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("登录已过期 (token expired)") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"登录凭证无效 (invalid token: {exc})") from None
    if not all(isinstance(claims[c], (int, float)) and not isinstance(claims[c], bool)
               for c in ("exp", "iat")):
        raise Unauthorized("登录凭证无效 (invalid token: exp and iat must be numbers)")
    if claims["exp"] - claims["iat"] > max_lifetime:
        raise Unauthorized(f"登录凭证有效期过长 (token lifetime above {max_lifetime} s: "
                           f"exp - iat)")
    return Principal(str(claims["sub"]), _short_text(claims, "name"), _roles(claims),
                     _short_text(claims, "unit"), _short_text(claims, "college"))


def _roles(claims: dict) -> tuple[str, ...]:
    """A list of known roles (one role may come as a string; none is no role)."""
    roles = claims.get("roles")
    if roles is None:
        return ()
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not all(
            isinstance(role, str) and role in KNOWN_ROLES for role in roles):
        raise Unauthorized(f"登录凭证中的角色无效 (invalid token: roles must be a list of "
                           f"{', '.join(KNOWN_ROLES)})")
    return tuple(roles)


def _short_text(claims: dict, claim: str) -> str | None:
    value = claims.get(claim)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CLAIM_LENGTH:
        raise Unauthorized(f"登录凭证无效 (invalid token: {claim} must be a string of at most "
                           f"{MAX_CLAIM_LENGTH} characters)")
    return value


def principal_for(authorization: str | None, settings, public_key: str | None = None
                  ) -> Principal:
    """principal_from with the gateway's settings: the one place they are passed, for the
    entrypoints and for gateway/server.py's check before a body is read."""
    return principal_from(authorization, settings.jwt_secret, settings.jwt_leeway_seconds,
                          public_key, settings.jwt_max_lifetime_seconds, settings.jwt_issuer,
                          settings.jwt_audience)


def public_key_from(setting: str) -> str | None:
    """The RS256 public key of `jwt_public_key`: PEM text, or the path of a PEM file."""
    value = setting.strip()
    if value and not value.startswith("-----BEGIN"):
        with open(value, encoding="ascii") as handle:
            value = handle.read()
    return value or None


def issue_token(secret: str, sub: str, name: str | None = None, roles=("complainant",),
                expires_in: int = 3600, now: int | None = None, **claims) -> str:
    """For tests, the bench and local demos; production tokens come from the campus IdP."""
    issued = int(now if now is not None else time.time())
    return jwt.encode({"sub": sub, "name": name, "roles": list(roles), "iat": issued,
                       "exp": issued + expires_in, **claims}, secret, algorithm="HS256")
