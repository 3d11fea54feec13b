"""Mint a bearer token for local use (demos, curl, the bench):

    .venv/bin/python -m gateway.token s2023001 张三 [--roles complainant] [--hours 8]
    .venv/bin/python -m gateway.token u-hqc-1 冯涛 --roles handler --unit logistics

Production tokens come from the campus identity provider, signed with the same secret.
"""
import argparse

from gateway.auth import KNOWN_ROLES, issue_token
from services.common.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sub", help="the user's campus id (the token's `sub`)")
    parser.add_argument("name", nargs="?", default=None)
    parser.add_argument("--roles", default="complainant", help="comma-separated roles")
    parser.add_argument("--hours", type=float, default=8,
                        help="lifetime, at most jwt_max_lifetime_seconds (12 h by default)")
    parser.add_argument("--unit", help="staff: the unit id in config/org.yaml")
    parser.add_argument("--college", help="students: their college's unit id")
    args = parser.parse_args()
    settings = Settings.load()
    if args.hours * 3600 > settings.jwt_max_lifetime_seconds:
        parser.error(f"--hours: the gateway accepts tokens of at most "
                     f"{settings.jwt_max_lifetime_seconds / 3600:g} h (jwt_max_lifetime_seconds)")
    roles = tuple(r for r in args.roles.split(",") if r)
    if unknown := [r for r in roles if r not in KNOWN_ROLES]:
        parser.error(f"--roles: unknown {', '.join(unknown)}; known: {', '.join(KNOWN_ROLES)}")
    print(issue_token(settings.jwt_secret, args.sub, args.name, roles,
                      expires_in=int(args.hours * 3600),
                      **{k: v for k, v in (("unit", args.unit), ("college", args.college)) if v}))


if __name__ == "__main__":
    main()
