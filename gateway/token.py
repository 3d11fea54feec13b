"""Mint a bearer token for local use (demos, curl, the bench):

    .venv/bin/python -m gateway.token s2023001 张三 [--roles complainant] [--hours 8]
    .venv/bin/python -m gateway.token u-hqc-1 冯涛 --roles handler --unit logistics

Production tokens come from the campus identity provider, signed with the same secret.
"""
import argparse

from gateway.auth import issue_token
from services.common.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sub", help="the user's campus id (the token's `sub`)")
    parser.add_argument("name", nargs="?", default=None)
    parser.add_argument("--roles", default="complainant", help="comma-separated roles")
    parser.add_argument("--hours", type=float, default=8)
    parser.add_argument("--unit", help="staff: the unit id in config/org.yaml")
    parser.add_argument("--college", help="students: their college's unit id")
    args = parser.parse_args()
    print(issue_token(Settings.load().jwt_secret, args.sub, args.name,
                      tuple(r for r in args.roles.split(",") if r),
                      expires_in=int(args.hours * 3600),
                      **{k: v for k, v in (("unit", args.unit), ("college", args.college)) if v}))


if __name__ == "__main__":
    main()
