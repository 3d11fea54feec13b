"""Who is calling: a bearer JWT from the campus identity provider (HS256 with the shared
secret JIESU_JWT_SECRET; claims `sub`, `name`, `roles`)."""
from __future__ import annotations

from dataclasses import dataclass

import jwt


class Unauthorized(Exception):
    pass


STAFF_ROLES = ("handler", "head", "office", "leader")


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
                   public_key: str | None = None) -> Principal:
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
                            options={"require": ["sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("登录已过期 (token expired)") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"登录凭证无效 (invalid token: {exc})") from None
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = [roles]
    return Principal(str(claims["sub"]), claims.get("name"), tuple(roles), claims.get("unit"),
                     claims.get("college"))


def issue_token(secret: str, sub: str, name: str | None = None, roles=("complainant",),
                expires_in: int = 3600, now: int | None = None, **claims) -> str:
    """For tests, the bench and local demos; production tokens come from the campus IdP."""
    import time

    issued = int(now if now is not None else time.time())
    return jwt.encode({"sub": sub, "name": name, "roles": list(roles), "iat": issued,
                       "exp": issued + expires_in, **claims}, secret, algorithm="HS256")
