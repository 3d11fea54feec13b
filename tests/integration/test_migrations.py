"""The migrations build exactly the tables the models describe: a column, index or type
added to a model without its migration (or the reverse) fails here, on SQLite (make run)
and on PostgreSQL (the test databases make test migrated)."""
from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from services.common.messaging_tables import messaging_metadata
from services.common.migrate import upgrade
from services.common.settings import SERVICE_NAMES
from tests.conftest import TEST_DATABASE_URL


def _expected(service: str) -> MetaData:
    merged = MetaData()
    for metadata in (importlib.import_module(f"services.{service}.models").metadata,
                     messaging_metadata):
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged


def _drift(url: str, service: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, _expected(service))
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_migrations_match_the_models_on_sqlite(service, tmp_path):
    url = f"sqlite:///{tmp_path}/{service}.db"
    upgrade(service, url)
    assert _drift(url, service) == []


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_migrations_match_the_models_on_postgresql(service):
    assert _drift(TEST_DATABASE_URL.format(service=service), service) == []
