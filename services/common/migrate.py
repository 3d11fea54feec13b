"""Create each service's database if it is missing and bring it to the newest migration.

    python -m services.common.migrate            # every service, settings from JIESU_*
    python -m services.common.migrate intake sla # just these

Each service keeps its own Alembic history in services/<name>/migrations and its own
`alembic_version` table in its own database.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.engine import make_url

from services.common.settings import REPO_ROOT, SERVICE_NAMES, Settings

log = logging.getLogger("jiesu.migrate")


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "services" / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": parsed.database}).scalar()
            if not exists:
                try:
                    conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
                    log.info("created database %s", parsed.database)
                except ProgrammingError as exc:  # another replica created it meanwhile
                    if "already exists" not in str(exc):
                        raise
    finally:
        admin.dispose()


def upgrade(service: str, url: str) -> None:
    ensure_database(url)
    command.upgrade(alembic_config(service, url), "head")


def is_current(service: str, url: str) -> bool:
    """True when the service's database is at its newest migration (readiness)."""
    script = ScriptDirectory.from_config(alembic_config(service, url))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    return current == set(script.get_heads())


def run_env(target_metadata) -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Pods starting together each run the migrations: one at a time, the
                    # others then find the database already at head.
                    connection.execute(text("SELECT pg_advisory_xact_lock(4711)"))
                context.run_migrations()
    finally:
        engine.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", default=list(SERVICE_NAMES))
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(message)s")
    logging.getLogger("alembic").setLevel("WARNING")
    settings = Settings.load()
    for service in args.services:
        if service not in SERVICE_NAMES:
            parser.error(f"unknown service {service!r}; known: {', '.join(SERVICE_NAMES)}")
        url = settings.database_url_for(service)
        try:
            upgrade(service, url)
        except Exception as exc:  # one clear sentence rather than a stack trace
            print(f"error: could not migrate the {service} database at "
                  f"{make_url(url).render_as_string(hide_password=True)}: {exc}",
                  file=sys.stderr)
            return 1
        log.info("%-8s database is at the newest migration (%s)", service,
                 make_url(url).render_as_string(hide_password=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
